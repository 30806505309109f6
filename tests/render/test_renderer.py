"""The offscreen renderer against analytic geometry: a sphere ray-cast per pixel, planes with
known pixel footprints, and small quads/cubes with known labels, colours and textures."""

from __future__ import annotations

import pytest
import torch

from humanmv.cameras import orbit_cameras
from humanmv.render import Mesh, Renderer
from render_meshes import (AXES, SPHERE_CAMERAS, angle_deg, cube, offcentre_cameras, pixel_rays, quad,
                           raycast_sphere, uv_sphere)


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


