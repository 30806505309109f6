"""Renderer: colours, textures, UVs, labels, and API behaviour (threads, reuse, errors)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from humanmv.cameras import orbit_cameras
from humanmv.errors import HumanMVError
from humanmv.render import Mesh, RenderOutput, Renderer, render_normal_maps
from humanmv.render import context as gl_context
from render_meshes import SIDE_COLORS, cube, quad, uv_sphere


# ---- attributes: colours, textures, uvs, labels -------------------------------------------------
def test_vertex_colours_per_side(renderer: Renderer) -> None:
    cams = orbit_cameras([45.0], [30.0], distance=3.0, width=80, height=80)
    out = renderer.render(cube(), cams, ("mask", "rgb", "labels"))
    mask = out.mask[0].bool()
    assert torch.allclose(out.rgb[0][mask], SIDE_COLORS[out.labels[0][mask]], atol=1e-5)
    assert (out.rgb[0][~mask] == 0).all()


def _block_texture() -> torch.Tensor:
    """8x8 texture in 4x4 blocks: top-left red, top-right green, bottom-left blue, bottom-right
    white (row 0 = top). Blocks keep bilinear samples in each quadrant's middle exact."""
    tex = torch.zeros(8, 8, 3)
    tex[:4, :4] = torch.tensor([1.0, 0, 0])
    tex[:4, 4:] = torch.tensor([0.0, 1, 0])
    tex[4:, :4] = torch.tensor([0.0, 0, 1])
    tex[4:, 4:] = 1.0
    return tex


@pytest.mark.parametrize("indexed_by", ["vertices", "uv_faces"])
def test_texture_orientation_and_uvs(renderer: Renderer, indexed_by: str) -> None:
    mesh = quad(1.0)
    mesh.texture = _block_texture()
    if indexed_by == "uv_faces":  # separate uv table with its own (duplicated) corners
        mesh.uvs = torch.cat([mesh.uvs[[0, 1, 2]], mesh.uvs[[0, 2, 3]]])
        mesh.uv_faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    # az 0: image x = world +X, image y = world -Y; the quad fills the middle of the image
    cams = orbit_cameras([0.0], 0.0, distance=2.0, fov_deg=90.0, width=64, height=64)
    out = renderer.render(mesh, cams, ("mask", "rgb", "uv", "face_id"))
    rgb, uv = out.rgb[0], out.uv[0]
    # world (-0.5, 0.5) is uv (0.25, 0.75): texture's top-left block, red; it lands at 1/4 of the
    # way across and down (fov 90 at distance 2 spans [-2, 2], so x = -0.5 is column 24).
    def at(x: float, y: float) -> tuple[int, int]:
        return int((2 - y) / 4 * 64), int((x + 2) / 4 * 64)

    for (x, y), colour in {(-0.5, 0.5): [1, 0, 0], (0.5, 0.5): [0, 1, 0],
                           (-0.5, -0.5): [0, 0, 1], (0.5, -0.5): [1, 1, 1]}.items():
        r, c = at(x, y)
        expected = torch.tensor(colour, dtype=torch.float32)
        assert torch.allclose(rgb[r, c], expected, atol=1e-4), (x, y)
    # interpolated uvs: u grows with the column, v with height (v up), both linear in the plane
    mask = out.mask[0].bool()
    rows, cols = torch.nonzero(mask, as_tuple=True)
    x = (cols.float() + 0.5) / 64 * 4 - 2
    y = 2 - (rows.float() + 0.5) / 64 * 4
    assert torch.allclose(uv[mask], torch.stack([(x + 1) / 2, (y + 1) / 2], -1), atol=1e-4)
    assert (uv[~mask] == 0).all()
    assert set(out.face_id[0][mask].tolist()) == {0, 1}


def test_uv_seams_split_vertices_without_reordering_faces(renderer: Renderer) -> None:
    # A cube whose 8 shared corners get a different uv per side: output face ids and labels must
    # still index the input faces.
    c = cube()
    corners, inverse = torch.unique(c.vertices, dim=0, return_inverse=True)
    shared = Mesh(corners, inverse[c.faces], face_labels=c.face_labels,
                  uvs=torch.rand(24, 2), uv_faces=c.faces, texture=torch.rand(4, 4, 3))
    cams = orbit_cameras([45.0, 225.0], [30.0, -30.0], distance=3.0, width=64, height=64)
    a = renderer.render(c, cams, ("face_id", "labels"))
    b = renderer.render(shared, cams, ("face_id", "labels", "rgb", "uv"))
    assert torch.equal(a.face_id, b.face_id) and torch.equal(a.labels, b.labels)


def test_grey_shading_without_colours(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0], 0.0, distance=2.5, width=64, height=64)
    out = renderer.render(uv_sphere(0.5, 32, 64), cams, ("mask", "rgb"))
    mask = out.mask[0].bool()
    centre = out.rgb[0, 32, 32]
    assert torch.allclose(centre, torch.full((3,), 0.8), atol=0.01)  # facing the headlight
    assert (out.rgb[0][mask] > 0.15).all() and (out.rgb[0][mask] <= 0.8 + 1e-4).all()
    assert (out.rgb[0][~mask] == 0).all()


# ---- API behaviour ------------------------------------------------------------------------------
def test_only_asked_outputs_are_returned(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0, 90.0], 0.0, width=40, height=30)
    out = renderer.render(cube(), cams, ("depth",))
    assert isinstance(out, RenderOutput) and out.depth.shape == (2, 30, 40)
    assert all(getattr(out, name) is None for name in
               ("mask", "normal", "normal_world", "rgb", "labels", "face_id", "uv"))
    full = renderer.render(Mesh(cube().vertices, cube().faces, uvs=torch.rand(24, 2),
                                face_labels=torch.zeros(12, dtype=torch.long)), cams,
                           ("mask", "depth", "normal", "normal_world", "rgb", "labels",
                            "face_id", "uv"))
    shapes = {"mask": (2, 30, 40), "depth": (2, 30, 40), "normal": (2, 30, 40, 3),
              "normal_world": (2, 30, 40, 3), "rgb": (2, 30, 40, 3), "labels": (2, 30, 40),
              "face_id": (2, 30, 40), "uv": (2, 30, 40, 2)}
    for name, shape in shapes.items():
        value = getattr(full, name)
        assert value.shape == shape and value.is_contiguous(), name
        expected = torch.int64 if name in ("labels", "face_id") else torch.float32
        assert value.dtype == expected, name


def test_bad_requests_raise(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0], 0.0, width=16, height=16)
    with pytest.raises(ValueError, match="unknown render outputs"):
        renderer.render(cube(), cams, ("mask", "albedo"))
    with pytest.raises(ValueError, match="face_labels"):
        renderer.render(quad(), cams, ("labels",))
    with pytest.raises(ValueError, match="uvs"):
        renderer.render(Mesh(cube().vertices, cube().faces), cams, ("uv",))
    with pytest.raises(ValueError, match="faces"):
        renderer.render(Mesh(cube().vertices, cube().faces + 100), cams)


def test_empty_mesh_and_resizing_reuse(renderer: Renderer) -> None:
    empty = Mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long))
    out = renderer.render(empty, orbit_cameras([0.0], 0.0, width=16, height=16),
                          ("mask", "depth", "face_id"))
    assert out.mask.sum() == 0 and (out.face_id == -1).all()
    # alternating sizes on one renderer gives the same images as fresh renderers
    sphere = uv_sphere(0.5, 16, 32)
    small = orbit_cameras([10.0], 5.0, width=40, height=24)
    big = orbit_cameras([10.0], 5.0, width=72, height=90)
    first = renderer.render(sphere, small, ("depth",)).depth
    renderer.render(sphere, big, ("depth",))
    again = renderer.render(sphere, small, ("depth",)).depth
    assert torch.equal(first, again)
    assert torch.equal(first, Renderer().render(sphere, small, ("depth",)).depth)


def test_many_views_ping_pong_order(renderer: Renderer) -> None:
    # views are double-buffered: each output must belong to its own camera
    cams = orbit_cameras(torch.arange(7) * 50.0, 0.0, width=48, height=48)
    together = renderer.render(cube(), cams, ("normal_world", "labels"), smooth_normals=False)
    for c in range(len(cams)):
        alone = renderer.render(cube(), cams[c], ("normal_world", "labels"), smooth_normals=False)
        assert torch.equal(together.labels[c], alone.labels[0])
        assert torch.allclose(together.normal_world[c], alone.normal_world[0])


def test_render_normal_maps(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0, 90.0], 0.0, width=32, height=24)
    maps = render_normal_maps(uv_sphere(0.5, 16, 32), cams, renderer)
    out = renderer.render(uv_sphere(0.5, 16, 32), cams, ("mask", "normal"))
    assert maps.shape == (2, 3, 24, 32) and maps.dtype == torch.float32
    assert maps.min() >= 0 and maps.max() <= 1
    mask = out.mask.bool()
    assert torch.allclose(maps.permute(0, 2, 3, 1)[mask], (out.normal[mask] + 1) / 2)
    assert (maps.permute(0, 2, 3, 1)[~mask] == 0.5).all()


def test_render_from_another_thread(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0], 0.0, width=24, height=24)
    results = {}

    def work() -> None:
        results["mask"] = renderer.render(cube(), cams, ("mask",)).mask

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert torch.equal(results["mask"], renderer.render(cube(), cams, ("mask",)).mask)


def test_missing_gl_gives_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import moderngl

    def no_gl(**kwargs):
        raise RuntimeError("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_gl)
    monkeypatch.setattr(gl_context, "_ctx", None)
    with pytest.raises(HumanMVError, match="apt-get install libegl1 libgl1-mesa-dri") as info:
        gl_context.get_context()
    assert "\n" not in str(info.value)


def test_outputs_do_not_alias_between_calls(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0], 0.0, width=24, height=24)
    a = renderer.render(cube(), cams, ("depth", "normal"))
    depth, normal = a.depth.clone(), a.normal.clone()
    renderer.render(uv_sphere(0.5, 8, 16), cams, ("depth", "normal"))
    assert torch.equal(a.depth, depth) and torch.equal(a.normal, normal)
    assert np.isfinite(a.depth.numpy()).all()


def test_8_bit_textures_are_scaled(renderer: Renderer) -> None:
    mesh = quad(1.0)
    mesh.texture = _block_texture()
    cams = orbit_cameras([0.0], 0.0, distance=2.0, fov_deg=90.0, width=32, height=32)
    as_float = renderer.render(mesh, cams, ("rgb",)).rgb
    mesh.texture = (_block_texture() * 255).to(torch.uint8)
    assert torch.allclose(renderer.render(mesh, cams, ("rgb",)).rgb, as_float, atol=1e-6)
