"""The offscreen renderer against analytic geometry: a sphere ray-cast per pixel, planes with
known pixel footprints, and small quads/cubes with known labels, colours and textures."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from humanmv.cameras import Cameras, look_at, orbit_cameras
from humanmv.errors import HumanMVError
from humanmv.render import Mesh, RenderOutput, Renderer, render_normal_maps
from humanmv.render import context as gl_context


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()  # no GL here is a failure: every output of humanmv needs the renderer


# ---- meshes -------------------------------------------------------------------------------------
def uv_sphere(radius: float = 0.5, n_lat: int = 64, n_lon: int = 128) -> Mesh:
    """Sphere at the origin: poles on Y, n_lat latitude bands, n_lon longitude segments,
    triangles wound counter-clockwise seen from outside (outward right-hand normals)."""
    theta = torch.linspace(0, math.pi, n_lat + 1, dtype=torch.float64)[1:-1]
    phi = torch.arange(n_lon, dtype=torch.float64) * (2 * math.pi / n_lon)
    T, P = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([T.sin() * P.sin(), T.cos(), T.sin() * P.cos()], -1).reshape(-1, 3)
    v = torch.cat([torch.tensor([[0.0, 1, 0]], dtype=torch.float64), ring,
                   torch.tensor([[0.0, -1, 0]], dtype=torch.float64)]) * radius
    i = torch.arange(n_lat - 2)[:, None]
    j = torch.arange(n_lon)[None]
    a, b = 1 + i * n_lon + j, 1 + i * n_lon + (j + 1) % n_lon
    c, d = a + n_lon, b + n_lon
    band = torch.stack([torch.stack([a, c, b], -1), torch.stack([b, c, d], -1)], 2).reshape(-1, 3)
    j = torch.arange(n_lon)
    top = torch.stack([torch.zeros_like(j), 1 + j, 1 + (j + 1) % n_lon], -1)
    last, base = v.shape[0] - 1, 1 + (n_lat - 2) * n_lon
    bottom = torch.stack([torch.full_like(j, last), base + (j + 1) % n_lon, base + j], -1)
    return Mesh(v.float(), torch.cat([top, band, bottom]))


def quad(size: float = 1.0, z: float = 0.0) -> Mesh:
    """Square [-size, size]^2 in the plane z, facing +Z, uvs (0,0) bottom-left, (1,1) top-right."""
    v = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=torch.float32)
    vertices = torch.cat([v * size, torch.full((4, 1), z)], 1)
    return Mesh(vertices, torch.tensor([[0, 1, 2], [0, 2, 3]]), uvs=(v + 1) / 2)


AXES = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                    dtype=torch.float32)
SIDE_COLORS = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
                           dtype=torch.float32)


def cube() -> Mesh:
    """Unit cube [-0.5, 0.5]^3 built from 6 separate sides (24 vertices, 12 triangles, CCW from
    outside); side s has outward normal AXES[s], label s and colour SIDE_COLORS[s]."""
    verts, faces, colors = [], [], []
    for s, n in enumerate(AXES):
        # two in-plane axes (t1, t2) with t1 x t2 = n, so (0,1,2),(0,2,3) wind CCW about n
        t1 = torch.roll(n.abs(), 1) * (1 if n.sum() > 0 else -1)
        t2 = torch.linalg.cross(n, t1)
        for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            verts.append(0.5 * (n + a * t1 + b * t2))
            colors.append(SIDE_COLORS[s])
        k = 4 * s
        faces += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    faces_t = torch.tensor(faces)
    return Mesh(torch.stack(verts), faces_t, vertex_colors=torch.stack(colors),
                face_labels=torch.arange(12) // 2)


# ---- analytic reference -------------------------------------------------------------------------
def pixel_rays(cameras: Cameras) -> torch.Tensor:
    """(C, H, W, 3) float64 camera-space rays through pixel centres, scaled to z = 1."""
    H, W = cameras.height, cameras.width
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                          torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1)
    Kinv = torch.linalg.inv(cameras.K.double())
    return torch.einsum("cij,hwj->chwi", Kinv, pix)


def raycast_sphere(cameras: Cameras, radius: float, center=(0.0, 0.0, 0.0)):
    """Analytic (mask, depth, camera normal) of a sphere: (C,H,W) bool, (C,H,W), (C,H,W,3)."""
    rays = pixel_rays(cameras)
    w2c = cameras.world_to_cam.double()
    c = (w2c[:, :3, :3] @ torch.tensor(center, dtype=torch.float64) + w2c[:, :3, 3])[:, None, None]
    rr, rc, cc = (rays * rays).sum(-1), (rays * c).sum(-1), (c * c).sum(-1)
    disc = rc**2 - rr * (cc - radius**2)
    hit = disc > 0
    z = (rc - disc.clamp_min(0).sqrt()) / rr  # nearer root; rays have z = 1, so s = depth
    normal = (rays * z[..., None] - c) / radius
    return hit, torch.where(hit, z, 0), torch.where(hit[..., None], normal, 0)


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cos = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def offcentre_cameras(width: int = 176, height: int = 112) -> Cameras:
    """Non-square images, different fx/fy, principal point far from the centre."""
    eye = torch.tensor([[0.6, 0.4, 2.4], [-1.9, -0.7, -1.2]])
    w2c = look_at(eye, torch.tensor([[0.05, -0.02, 0.0]]).expand(2, 3), roll_deg=[0.0, 17.0])
    K = torch.tensor([[150.0, 0.0, 70.3], [0.0, 165.0, 61.7], [0.0, 0.0, 1.0]]).repeat(2, 1, 1)
    return Cameras(K, w2c, width, height)


SPHERE_CAMERAS = {
    "orbit": lambda: orbit_cameras([0, 60, 150, 270], [0, 30, -20, 75], distance=2.5,
                                   fov_deg=40, width=128, height=128),
    "offcentre": offcentre_cameras,
}


# ---- geometry accuracy --------------------------------------------------------------------------
@pytest.mark.parametrize("which", sorted(SPHERE_CAMERAS))
def test_sphere_matches_raycast(renderer: Renderer, which: str) -> None:
    cams = SPHERE_CAMERAS[which]()
    out = renderer.render(uv_sphere(0.5), cams, outputs=("mask", "depth", "normal"))
    hit, z, n = raycast_sphere(cams, 0.5)
    mask = out.mask.bool()
    assert out.mask.shape == (len(cams), cams.height, cams.width)
    iou = (mask & hit).sum() / (mask | hit).sum()
    assert iou > 0.98, f"mask IoU with the analytic disc {iou:.4f}"
    both = mask & hit
    depth_err = (out.depth[both] - z[both]).abs()
    assert depth_err.mean() < 1e-3, f"mean depth error {depth_err.mean() * 1000:.3f} mm"
    normal_err = angle_deg(out.normal[both], n[both])
    assert normal_err.mean() < 1.0, f"mean normal error {normal_err.mean():.3f} deg"
    assert torch.allclose(out.normal[mask].norm(dim=-1), torch.ones(()), atol=1e-4)
    assert (out.depth[~mask] == 0).all() and (out.normal[~mask] == 0).all()


@pytest.mark.parametrize("smooth", [True, False])
def test_no_reversed_normals_along_silhouettes(renderer: Renderer, smooth: bool) -> None:
    # A coarse sphere seen from many directions: rasteriser snapping lets grazing back faces
    # cover a few silhouette pixels; their normals must not be flipped inside out.
    cams = orbit_cameras(torch.arange(24) * 15.0 + 3, torch.linspace(-60, 60, 24), distance=2.5,
                         width=160, height=120)
    out = renderer.render(uv_sphere(0.5, 16, 32), cams, ("mask", "normal"), smooth_normals=smooth)
    hit, _, n = raycast_sphere(cams, 0.5)
    both = out.mask.bool() & hit
    assert angle_deg(out.normal[both], n[both]).max() < 30.0


def test_winding_does_not_matter(renderer: Renderer) -> None:
    cams = orbit_cameras([30, 200], [10, -40], distance=2.5, width=96, height=96)
    sphere = uv_sphere(0.5, 32, 64)
    flipped = Mesh(sphere.vertices, sphere.faces.flip(1))
    for smooth in (True, False):
        a = renderer.render(sphere, cams, ("mask", "normal"), smooth_normals=smooth)
        b = renderer.render(flipped, cams, ("mask", "normal"), smooth_normals=smooth)
        assert torch.equal(a.mask, b.mask)
        assert torch.allclose(a.normal, b.normal, atol=1e-4)
        # visible normals face the camera: n . (point - camera) < 0
        rays = pixel_rays(cams).float()[a.mask.bool()]
        assert ((a.normal[a.mask.bool()] * rays).sum(-1) < 0).float().mean() > 0.99


def test_inside_of_a_sphere_faces_the_camera(renderer: Renderer) -> None:
    # From inside, every visible triangle is a back face: normals must still face the camera.
    cams = orbit_cameras([0.0], 0.0, distance=0.2, width=48, height=48)
    out = renderer.render(uv_sphere(1.0, 32, 64), cams, ("mask", "normal"))
    assert out.mask.all()
    rays = pixel_rays(cams).float()[0]
    assert ((out.normal[0] * rays).sum(-1) < 0).all()


def test_world_normals_are_rotated_camera_normals(renderer: Renderer) -> None:
    cams = offcentre_cameras()
    out = renderer.render(uv_sphere(0.5), cams, ("mask", "normal", "normal_world", "depth"))
    R = cams.world_to_cam[:, :3, :3]
    mask = out.mask.bool()
    back = torch.einsum("cij,chwj->chwi", R, out.normal_world)  # n_cam = R n_world
    assert torch.allclose(back, out.normal, atol=1e-5)
    # on a sphere at the origin, the world normal is the direction of the world hit point
    cam_pts = pixel_rays(cams).float() * out.depth[..., None]
    c2w = cams.cam_to_world
    world_pts = torch.einsum("cij,chwj->chwi", c2w[:, :3, :3], cam_pts) + c2w[:, None, None, :3, 3]
    err = angle_deg(out.normal_world[mask], world_pts[mask])
    assert err.mean() < 1.0
    assert (out.normal_world[~mask] == 0).all()


def test_flat_normals_of_a_cube_are_exact(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0, 45.0], [0.0, 30.0], distance=3.0, width=96, height=80)
    out = renderer.render(cube(), cams, ("mask", "normal", "normal_world", "labels", "face_id"),
                          smooth_normals=False)
    for c in range(2):
        mask = out.mask[c].bool()
        labels = out.labels[c]
        assert ((labels >= 0) == mask).all() and ((out.face_id[c] >= 0) == mask).all()
        assert (labels[mask] == out.face_id[c][mask] // 2).all()
        expected = AXES[labels[mask]]
        assert torch.allclose(out.normal_world[c][mask], expected, atol=2e-3)
    # front view sees only the +Z side (label 4, triangles 8 and 9), normal -z in camera axes
    front = out.mask[0].bool()
    assert set(out.labels[0][front].tolist()) == {4}
    assert set(out.face_id[0][front].tolist()) == {8, 9}
    assert torch.allclose(out.normal[0][front], torch.tensor([0.0, 0.0, -1.0]), atol=2e-3)
    # az 45, el 30 sees +X, +Y, +Z (labels 0, 2, 4)
    assert set(out.labels[1][out.mask[1].bool()].tolist()) == {0, 2, 4}
    background = ~out.mask.bool()
    assert (out.labels[background] == -1).all() and (out.face_id[background] == -1).all()


# ---- the camera convention: pixel-exact footprints -----------------------------------------------
def test_rectangle_covers_exactly_the_pixels_whose_centres_it_contains(renderer: Renderer) -> None:
    cams = offcentre_cameras()
    c2w = cams.cam_to_world[0]
    depth = 3.0
    corners_px = torch.tensor([[20.3, 10.7], [120.6, 10.7], [120.6, 70.2], [20.3, 70.2]])
    rays = torch.cat([corners_px, torch.ones(4, 1)], 1) @ torch.linalg.inv(cams.K[0]).T
    world = (rays * depth) @ c2w[:3, :3].T + c2w[:3, 3]
    rect = Mesh(world, torch.tensor([[0, 1, 2], [0, 2, 3]]))
    out = renderer.render(rect, cams[0], ("mask", "depth", "normal"))
    expected = torch.zeros(cams.height, cams.width, dtype=torch.bool)
    expected[11:70, 20:121] = True  # rows 10.7 < j + 0.5 < 70.2, columns 20.3 < i + 0.5 < 120.6
    assert torch.equal(out.mask[0].bool(), expected)
    assert torch.allclose(out.depth[0][expected], torch.tensor(depth), atol=1e-5)
    assert torch.allclose(out.normal[0][expected], torch.tensor([0.0, 0.0, -1.0]), atol=1e-3)
    # and Cameras.project maps the corners back where they were put
    px, z = cams[0].project(world)
    assert torch.allclose(px[0], corners_px, atol=1e-3) and torch.allclose(z, torch.tensor(depth))


def test_rendered_surface_projects_back_onto_its_pixels(renderer: Renderer) -> None:
    cams = offcentre_cameras()
    out = renderer.render(uv_sphere(0.5), cams, ("mask", "depth"))
    c2w = cams.cam_to_world
    for c in range(len(cams)):
        rows, cols = torch.nonzero(out.mask[c], as_tuple=True)
        cam_pts = pixel_rays(cams[c]).float()[0, rows, cols] * out.depth[c, rows, cols, None]
        world = cam_pts @ c2w[c, :3, :3].T + c2w[c, :3, 3]
        px, _ = cams[c].project(world)
        assert torch.equal(px[0, :, 0].floor().long(), cols)
        assert torch.equal(px[0, :, 1].floor().long(), rows)


def test_projected_vertex_lands_on_a_face_that_uses_it(renderer: Renderer) -> None:
    sphere = uv_sphere(0.5, 16, 32)
    cams = orbit_cameras([20.0], 10.0, distance=2.0, width=200, height=160)
    out = renderer.render(sphere, cams, ("face_id",))
    px, _ = cams.project(sphere.vertices)
    # vertices facing the camera squarely (not near the silhouette)
    facing = sphere.vertices @ torch.nn.functional.normalize(cams.centers[0], dim=0) > 0.4
    checked = 0
    for k in torch.nonzero(facing).flatten().tolist():
        u, v = px[0, k]
        fid = int(out.face_id[0, int(v), int(u)])
        neighbours = (sphere.faces == k).any(1).nonzero().flatten().tolist()
        if fid in neighbours:
            checked += 1
    assert checked >= 0.9 * int(facing.sum())


def test_near_and_far_clip(renderer: Renderer) -> None:
    cams = orbit_cameras([0.0], 0.0, distance=3.0, width=32, height=32)
    plane = quad(0.5, 0.0)  # at camera depth 3
    assert renderer.render(plane, cams, ("mask",), far=2.0).mask.sum() == 0
    assert renderer.render(plane, cams, ("mask",), near=3.5, far=10.0).mask.sum() == 0
    assert renderer.render(plane, cams, ("mask",), near=1.0, far=4.0).mask.sum() > 0


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
