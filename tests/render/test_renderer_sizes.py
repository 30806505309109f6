"""Camera sets whose views differ in size: each view renders in the top-left corner of the canvas
exactly as it renders alone at its own size, and the rest of its canvas is background."""

from __future__ import annotations

import pytest
import torch

from humanmv.cameras import Cameras, orbit_cameras
from humanmv.render import OUTPUT_NAMES, Renderer, render_normal_maps
from render_meshes import cube, quad, uv_sphere

BACKGROUND = {"mask": 0, "depth": 0, "normal": 0, "normal_world": 0, "rgb": 0, "labels": -1,
              "face_id": -1, "uv": 0}
# Two views per framebuffer slot, the later one smaller on both axes: a view must not inherit
# the pixels its slot held for the previous, larger view.
SIZES = [(120, 160), (109, 192), (96, 150), (108, 192)]


def mixed_cameras(distance: float, fov_deg: float) -> Cameras:
    """Four views of SIZES around the origin, principal points off their images' centres (so
    the subject crosses the right or bottom edge of the smaller views)."""
    base = orbit_cameras([0.0, 25.0, -30.0, 10.0], [0.0, 10.0, -5.0, 20.0], distance=distance,
                         fov_deg=fov_deg, width=120, height=192)
    K = base.K.clone()
    K[:, 0, 2] = torch.tensor([70.3, 48.0, 66.6, 55.1])
    K[:, 1, 2] = torch.tensor([101.7, 96.0, 120.2, 88.4])
    return Cameras.with_sizes(K, base.world_to_cam, SIZES, az=base.az, el=base.el)


def backdrop():
    """A textured, labelled quad far larger than every view: covers every pixel it can."""
    mesh = quad(6.0)
    mesh.texture = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0))
    mesh.face_labels = torch.tensor([3, 7])
    return mesh


def textured_cube():
    mesh = cube()
    mesh.uvs = torch.rand(24, 2, generator=torch.Generator().manual_seed(1))
    return mesh


CASES = {
    "backdrop": (backdrop, (2.0, 90.0), OUTPUT_NAMES, True),
    "cube_flat": (textured_cube, (2.5, 40.0), OUTPUT_NAMES, False),
    "sphere": (lambda: uv_sphere(0.5, 32, 64), (2.5, 40.0), ("mask", "depth", "normal", "rgb"), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_view_renders_at_its_own_size(renderer: Renderer, case: str) -> None:
    make_mesh, framing, outputs, smooth = CASES[case]
    mesh, cams = make_mesh(), mixed_cameras(*framing)
    out = renderer.render(mesh, cams, outputs, smooth_normals=smooth)
    assert out.mask.shape == (4, 192, 120)
    own = cams.valid_mask()
    for i, (w, h) in enumerate(SIZES):
        alone = renderer.render(mesh, cams[i], outputs, smooth_normals=smooth)
        assert alone.mask.shape == (1, h, w)
        for name in outputs:
            value = getattr(out, name)[i]
            assert torch.equal(value[:h, :w], getattr(alone, name)[0]), (case, i, name)
            assert (value[~own[i]] == BACKGROUND[name]).all(), (case, i, name)
        if case == "backdrop":  # the backdrop covers every pixel a view draws, so the
            assert out.mask[i][own[i]].all()  # background above is the canvas cut, not the mesh
        else:  # the subject crosses the edge of the smaller views: the cut goes through it
            assert out.mask[i].sum() > 100


def test_uniform_cameras_render_as_each_view_alone(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0, 50.0, 130.0, 250.0, 300.0], [0.0, 20.0, -10.0, 5.0, 40.0],
                         distance=2.5, width=72, height=56)
    mesh = textured_cube()
    together = renderer.render(mesh, cams, OUTPUT_NAMES, smooth_normals=False)
    for i in range(len(cams)):
        alone = renderer.render(mesh, cams[i], OUTPUT_NAMES, smooth_normals=False)
        for name in OUTPUT_NAMES:
            assert torch.equal(getattr(together, name)[i], getattr(alone, name)[0]), (i, name)


def test_normal_maps_have_background_outside_each_view(renderer: Renderer) -> None:
    cams = mixed_cameras(2.0, 90.0)
    maps = render_normal_maps(backdrop(), cams, renderer)
    assert maps.shape == (4, 3, 192, 120)
    own = cams.valid_mask()
    assert (maps.permute(0, 2, 3, 1)[~own] == 0.5).all()
    assert (maps.permute(0, 2, 3, 1)[own][:, 2] < 0.3).all()  # the backdrop faces every camera
