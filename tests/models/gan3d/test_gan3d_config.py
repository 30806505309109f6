"""GAN3DConfig: named configs, JSON round trip, one-line errors naming the field."""

from __future__ import annotations

import json

import pytest

from humanmv.body.anny_model import PART_NAMES
from humanmv.errors import ConfigError
from humanmv.models.gan3d import GAN3D_CONFIGS, GAN3DConfig, get_gan3d_config


def test_named_configs_and_their_sizes():
    assert set(GAN3D_CONFIGS) == {"tiny", "small", "paper"}
    tiny, small, paper = (get_gan3d_config(n) for n in ("tiny", "small", "paper"))
    assert (tiny.image_height, tiny.image_width, tiny.style_height, tiny.style_width) == (32, 16, 8, 4)
    assert (small.image_height, small.image_width, small.style_height, small.style_width) == (128, 64, 32, 16)
    assert (paper.image_height, paper.image_width) == (256, 128)
    for c in (tiny, small, paper):
        assert c.num_parts == len(PART_NAMES) and c.disc_classes == 2 + len(PART_NAMES)
        assert (c.backbone, c.norm, c.disc_loss) == ("1x1", "batch", "segmentation")
    assert small.upsampling_steps == 2 and tiny.upsampling_steps == 2


def test_get_returns_fresh_copies_with_changes():
    a = get_gan3d_config("small")
    a.backbone_channels = 7
    assert get_gan3d_config("small").backbone_channels != 7
    b = get_gan3d_config("tiny", backbone="upsampling", norm="instance", disc_loss="binary")
    assert (b.backbone, b.norm, b.disc_loss, b.name) == ("upsampling", "instance", "binary", "tiny")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="'huge'.*tiny, small, paper"):
        get_gan3d_config("huge")


@pytest.mark.parametrize("name", ["tiny", "small", "paper"])
def test_dict_round_trip_through_json(name):
    cfg = get_gan3d_config(name, backbone="upsampling")
    again = GAN3DConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again is not cfg


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="'colour'"):
        GAN3DConfig.from_dict({**get_gan3d_config("tiny").to_dict(), "colour": 3})
    with pytest.raises(ConfigError, match="JSON object"):
        GAN3DConfig.from_dict([1, 2])


@pytest.mark.parametrize("change, words", [
    (dict(backbone="3x3"), "backbone must be one of 1x1, upsampling"),
    (dict(norm="group"), "norm must be one of batch, instance"),
    (dict(disc_loss="hinge"), "disc_loss"),
    (dict(spade_layers=9), "spade_layers"),
    (dict(style_height=7), "power of two"),
    (dict(style_width=8), "power of two"),
    (dict(shell_half_thickness=0.0), "shell_half_thickness"),
    (dict(backbone_channels=0), "backbone_channels"),
    (dict(disc_depth=6), "2\\*\\*disc_depth"),
    (dict(backbone="upsampling", spade_layers=3), "upsampling backbone needs"),
])
def test_inconsistent_configs_are_one_line_errors(change, words):
    with pytest.raises(ConfigError, match=words) as err:
        get_gan3d_config("tiny", **change)
    assert "\n" not in str(err.value)
