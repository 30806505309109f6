"""The face refine pipeline on a posed body: only face pixels of face-visible views change,
the sampler is seeded, the stream switches reach the model, and a photo without the face leaves
the views alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from humanmv.body.anny_model import BodyParams
from humanmv.cameras import orbit_cameras_around, ring_azimuths
from humanmv.pipelines.face_refine import FaceRefineConfig, FaceRefinePipeline
from humanmv.views import Views

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from face_model import tiny_face_model  # noqa: E402


@pytest.fixture(scope="module")
def scene(body, renderer):
    params = BodyParams.neutral(1, len(body.expression_names))
    with torch.no_grad():
        vertices = body(params).vertices[0]
    ring = orbit_cameras_around(vertices, ring_azimuths(8), 0.0, 30.0, 160, 160, margin=1.05)
    out = renderer.render(body.mesh(vertices), ring, outputs=("mask", "normal"))
    mask = out.mask.cpu()
    rgb = ((out.normal.cpu() + 1) / 2) * mask[..., None]
    views = Views(ring, rgb, mask)
    photo_camera = ring[[0]]
    photo = rgb[0] * mask[0][..., None] + (1 - mask[0][..., None])
    shape = torch.cat([params.phenotype[0], params.expression[0]])
    return views, vertices, photo, mask[0], photo_camera, shape


@pytest.fixture(scope="module")
def pipe(body, renderer):
    model = tiny_face_model(len(body.expression_names))
    for p in model.parameters():  # a random model that draws something other than its input
        p.data += 0.02 * torch.randn_like(p)
    return FaceRefinePipeline(model, None, body, renderer)


def _run(pipe, scene, **changes):
    views, vertices, photo, mask, camera, shape = scene
    config = FaceRefineConfig(steps=3, **changes)
    return pipe(views, vertices, photo, mask, camera, shape, torch.randn(128, generator=torch.Generator().manual_seed(0)),
                config, seed=0)


def test_only_the_faces_of_face_visible_views_change(pipe, scene, body, renderer):
    from humanmv.body.face_regions import face_regions

    views = scene[0]
    refined, report = _run(pipe, scene)
    assert report.skipped is None and report.refined == [0, 1, 2, 6, 7] and report.identity_used
    faces = face_regions(body, scene[1], views.cameras, renderer).masks.bool()
    changed = (refined.rgb - views.rgb).abs().amax(-1) > 1e-6
    assert not (changed & ~faces).any()                           # nothing outside a face moves
    for i in report.refined:
        assert changed[i].sum() > 0.3 * faces[i].sum()
    assert not changed[3:6].any()                                  # back views keep their pixels
    assert torch.equal(refined.mask, views.mask) and refined.cameras is views.cameras


def test_seeded_and_switches_matter(pipe, scene):
    a, _ = _run(pipe, scene)
    b, _ = _run(pipe, scene)
    assert torch.equal(a.rgb, b.rgb)
    no_identity, report = _run(pipe, scene, use_identity=False)
    no_shape, _ = _run(pipe, scene, use_shape=False)
    assert not report.identity_used
    assert (no_identity.rgb - a.rgb).abs().max() > 1e-4 and (no_shape.rgb - a.rgb).abs().max() > 1e-4


def test_a_photo_that_does_not_show_the_face_leaves_the_views(pipe, scene):
    views, vertices, photo, mask, _, shape = scene
    back = views.cameras[[4]]
    refined, report = pipe(views, vertices, photo, mask, back, shape, None, FaceRefineConfig(steps=2))
    assert refined is views and report.skipped == "the photo does not show the fitted face"


def test_view_colour_keeps_the_views_colours_and_the_models_detail():
    from humanmv.body.face_regions import gaussian_blur
    from humanmv.pipelines.face_refine import keep_low_frequencies

    g = torch.Generator().manual_seed(0)
    views = torch.full((2, 3, 64, 64), 0.4) + 0.1 * gaussian_blur(torch.rand(2, 3, 64, 64, generator=g), 6.0)
    detail = 0.05 * torch.randn(2, 3, 64, 64, generator=g)
    refined = (views + 0.2 + detail).clamp(0, 1)            # the model's colour is off by 0.2
    out = keep_low_frequencies(refined, views, sigma=6.0)
    assert (out.mean((2, 3)) - views.mean((2, 3))).abs().max() < 0.01
    high = lambda x: x - gaussian_blur(x, 6.0)  # noqa: E731
    assert torch.corrcoef(torch.stack([high(out).flatten(), detail.flatten()]))[0, 1] > 0.9
