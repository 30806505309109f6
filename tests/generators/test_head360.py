"""The head360 generator: views at exactly the requested cameras from a (tiny) checkpoint, the
back camera behind the head, its module switches, and one-line refusals of a body request and of
a checkpoint of another generator."""

from __future__ import annotations

import pytest
import torch

from humanmv.errors import CheckpointError, ConfigError
from humanmv.generators import GeneratorChoice


@pytest.fixture(scope="module")
def portrait(studio, examples_dir):
    from humanmv.io.images import load_image

    image = load_image(examples_dir / "grace_hopper.jpg")
    return image, studio.fitter(image, mode="head")


@pytest.mark.parametrize("switches", [{}, {"back_view": False}, {"dual_reference": False}])
def test_views_at_the_requested_cameras(studio, portrait, head360_checkpoint, switches):
    image, fit = portrait
    choice = GeneratorChoice.make("head360", {"checkpoint": str(head360_checkpoint), "steps": 2, "window": 2,
                                              "reconstruct": "none", **switches})
    result = studio.generate(image, choice, views=5, size=64, photo_fit=fit)
    v = result.views
    assert v.rgb.shape == (5, 64, 64, 3) and v.mask.shape == (5, 64, 64) and v.normal is not None
    assert float(v.mask.mean()) > 0.05
    assert torch.all(v.rgb[v.mask < 0.5] == 0)


def test_same_seed_same_views(studio, portrait, head360_checkpoint):
    image, fit = portrait
    choice = GeneratorChoice.make("head360", {"checkpoint": str(head360_checkpoint), "steps": 2,
                                              "reconstruct": "none"})
    a = studio.generate(image, choice, views=3, size=64, photo_fit=fit, seed=1).views.rgb
    b = studio.generate(image, choice, views=3, size=64, photo_fit=fit, seed=1).views.rgb
    assert torch.equal(a, b)


def test_a_body_request_names_mode_head(studio, examples_dir):
    from humanmv.io.images import load_image

    with pytest.raises(ConfigError, match=r"--generator head360 makes heads, not bodies \(--mode body\); "
                                          r"generators for bodies: .*prior.*; for head360 pass --mode head"):
        studio.generate(load_image(examples_dir / "astronaut.jpg"), "head360", mode="body")


def test_a_checkpoint_of_another_generator_is_refused_naming_the_file(studio, tmp_path):
    import shutil

    from humanmv.generators.mvdiff import DEFAULT_CHECKPOINT

    shutil.copytree(DEFAULT_CHECKPOINT, tmp_path / "back")
    with pytest.raises(CheckpointError, match=r"back/head360_stage.json: missing; not a head360 stage folder"):
        studio.load(GeneratorChoice.make("head360", {"checkpoint": str(tmp_path)}))
    with pytest.raises(CheckpointError, match=r"back/back: missing; a head360 checkpoint holds back/ and main/"):
        studio.load(GeneratorChoice.make("head360", {"checkpoint": str(tmp_path / "back")}))


def test_switching_the_view_consistency_off_makes_its_blocks_the_identity():
    from humanmv.generators.head360 import switch_off_view_sequence
    from humanmv.models import MultiViewUNet, get_config
    import dataclasses

    torch.manual_seed(0)
    plain = MultiViewUNet(get_config("tiny")).eval()
    with_blocks = MultiViewUNet(dataclasses.replace(get_config("tiny"), view_sequence=True)).eval()
    with_blocks.load_state_dict(plain.state_dict(), strict=False)
    for block in with_blocks.view_sequence.values():  # trained blocks: no longer the identity
        torch.nn.init.normal_(block.to_out.weight, std=0.5)
    s = plain.config.sample_size
    args = (torch.randn(1, 3, 4, s, s), torch.tensor([500]), torch.rand(1, 3, 7, s, s), torch.zeros(1, 3, 12),
            torch.rand(1, 4, s, s), torch.rand(1, 7, s, s))
    with torch.no_grad():
        assert not torch.allclose(with_blocks(*args), plain(*args), atol=1e-5)
        switch_off_view_sequence(with_blocks)
        assert torch.allclose(with_blocks(*args), plain(*args), atol=1e-5)
    switch_off_view_sequence(plain)  # a model without blocks: nothing to do
