"""The contract every registered generator keeps (like diffusers' PipelineTesterMixin): run
through the Studio on a real photo, in each mode it accepts, with its quick options.

- same seed -> same views; a stochastic generator gives other views for another seed;
- the views are at exactly the requested cameras and sizes (a set that mixes two sizes);
- each view's mask overlaps the prior's at that camera (IoU >= 0.5);
- an unknown option is a one-line error;
- it runs with `--reconstruct none` and with its default reconstruction.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from humanmv.cameras import Cameras, orbit_cameras_around
from humanmv.errors import ConfigError
from humanmv.generators import GeneratorChoice, available_generators, generator_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toy  # noqa: E402

toy.register()  # a generator defined outside the package is held to the same contract

PHOTOS = {"body": ("astronaut.jpg", "body"), "head": ("grace_hopper.jpg", "head")}
CASES = [(name, mode) for name in available_generators() for mode in generator_spec(name).modes]


@pytest.fixture(scope="module")
def studio():
    from humanmv.studio import Studio

    return Studio(texture_size=256)


@pytest.fixture(scope="module")
def fitted(studio, examples_dir):
    """mode -> (photo, its fit), each fitted once."""
    from humanmv.io.images import load_image

    out = {}
    for mode, (name, fit_mode) in PHOTOS.items():
        image = load_image(examples_dir / name)
        out[mode] = (image, studio.fitter(image, mode=fit_mode))
    return out


def _cameras(photo_fit) -> Cameras:
    """Three 64 x 64 orbit views and one 48 x 80 view: a set of two sizes."""
    fit = photo_fit.fit
    focus = fit.vertices if fit.mode == "body" else fit.vertices[fit.vertices[:, 1] > fit.vertices[:, 1].max() - 0.3]
    square = orbit_cameras_around(focus, [0.0, 90.0, 180.0], 0.0, fov_deg=30.0, width=64, height=64)
    tall = orbit_cameras_around(focus, [300.0], 0.0, fov_deg=30.0, width=48, height=80)
    return Cameras.with_sizes(torch.cat([square.K, tall.K]), torch.cat([square.world_to_cam, tall.world_to_cam]),
                              [[64, 64]] * 3 + [[48, 80]], names=["a", "b", "c", "d"])


def _run(studio, fitted, mode, name, seed=0, **options):
    image, photo_fit = fitted[mode]
    choice = GeneratorChoice.make(name, {**generator_spec(name).quick_options, **options})
    return studio.generate(image, choice, cameras=_cameras(photo_fit), photo_fit=photo_fit, seed=seed)


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum()) / max(1, int((a | b).sum()))


@pytest.mark.parametrize("name, mode", CASES)
def test_generator_contract(studio, fitted, name, mode):
    spec = generator_spec(name)
    first = _run(studio, fitted, mode, name, reconstruct="none")
    again = _run(studio, fitted, mode, name, reconstruct="none")
    cams = _cameras(fitted[mode][1])

    # at exactly the requested cameras and sizes
    v = first.views
    assert v.cameras.names == cams.names and torch.equal(v.cameras.sizes, cams.sizes)
    assert torch.allclose(v.cameras.world_to_cam, cams.world_to_cam) and torch.allclose(v.cameras.K, cams.K)
    assert v.rgb.shape == (4, 80, 64, 3) and v.mask.shape == (4, 80, 64)
    assert v.image("rgb", 3).shape == (80, 48, 3) and v.image("mask", 0).shape == (64, 64)
    assert not v.mask[:3, 64:].any() and not v.mask[3, :, 48:].any(), "pixels outside a view's own size"
    assert v.normal is not None and v.depth is not None  # the pipeline fills what a generator lacks

    # same seed, same views; another seed, other views (when the generator is stochastic)
    assert torch.equal(first.views.rgb, again.views.rgb) and torch.equal(first.views.mask, again.views.mask)
    other = _run(studio, fitted, mode, name, seed=1, reconstruct="none")
    assert torch.equal(other.views.rgb, first.views.rgb) is not spec.stochastic

    # the person where the prior puts it
    prior = studio.renderer.render(first.subject.avatar, cams, outputs=("mask",)).mask
    for i in range(4):
        w, h = cams.sizes[i].tolist()
        assert _iou(v.mask[i, :h, :w], prior[i, :h, :w]) >= 0.5, (name, i)

    # with its default reconstruction: renders of the avatar it exports
    default = _run(studio, fitted, mode, name)
    assert default.choice.reconstruct == spec.reconstruct and default.avatar.reconstruct == spec.reconstruct
    assert default.views.rgb.shape == v.rgb.shape and torch.equal(default.views.cameras.sizes, cams.sizes)
    if spec.reconstruct != "none":
        seen = studio.renderer.render(default.avatar.mesh, cams, outputs=("mask",)).mask
        assert torch.equal(seen, default.views.mask)

    # an unknown option is one line
    with pytest.raises(ConfigError) as err:
        GeneratorChoice.make(name, {"no_such_option": 1})
    assert f"unknown option {name}.no_such_option" in str(err.value) and "\n" not in str(err.value)
