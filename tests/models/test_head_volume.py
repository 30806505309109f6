"""The head feature volume: a sphere voxelises to a shell with radial normals, the photo lands on
the voxels it sees (and not on the far side), rays read the volume only where they cross it, and
the module's shapes and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from humanmv.cameras import orbit_cameras
from humanmv.models.head_volume import (HeadFeatureVolume, HeadVolumeConfig, VolumeGrid, head_grid, ray_box,
                                        unproject_photo, volume_inputs, voxelise_surface)


def _sphere(radius: float = 0.1, rings: int = 24, segments: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A UV sphere at the origin: vertices [V, 3], faces [F, 3] (outward winding not relied on)."""
    theta = torch.linspace(0, math.pi, rings + 1)
    phi = torch.linspace(0, 2 * math.pi, segments + 1)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    verts = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).reshape(-1, 3) * radius
    faces = []
    for r in range(rings):
        for s in range(segments):
            a, b = r * segments + s, r * segments + (s + 1) % segments
            c, d = a + segments, b + segments
            faces += [[a, c, b], [b, c, d]]
    return verts, torch.tensor(faces)


def test_a_sphere_voxelises_to_a_shell_with_radial_normals():
    verts, faces = _sphere()
    grid = head_grid(verts, size=16, margin=1.5)
    assert grid.side == pytest.approx(0.3, rel=1e-3) and torch.allclose(grid.origin, torch.full((3,), -0.15), atol=1e-3)
    occupancy, normals = voxelise_surface(grid, verts, faces)
    centres = grid.centres()
    radius = centres.norm(dim=-1)
    on = occupancy > 0
    assert (radius[on] - 0.1).abs().max() < grid.voxel * 0.9  # on the surface, within a voxel
    assert not on[radius < 0.1 - grid.voxel].any()  # hollow
    assert on.sum() > 200
    cosine = (normals[on] * torch.nn.functional.normalize(centres[on], dim=-1)).sum(-1).abs()
    assert cosine.mean() > 0.95
    assert (normals[~on] == 0).all()


def test_the_photo_lands_on_the_near_side_only():
    verts, faces = _sphere()
    grid = head_grid(verts, size=16, margin=1.5)
    camera = orbit_cameras([0.0], 0.0, distance=1.0, fov_deg=20.0, width=64, height=64)
    # The photo's depth map: the sphere's front surface along each pixel's ray.
    from humanmv.models.ray_marching import pixel_rays

    origin, dirs = pixel_rays(camera)
    o = origin[0]
    b = (dirs[0] * o).sum(-1)
    disc = b ** 2 - (o @ o - 0.01)
    t = -b - disc.clamp_min(0).sqrt()
    z_axis = camera.world_to_cam[0, 2, :3]
    depth = torch.where(disc > 0, t * (dirs[0] @ z_axis), torch.zeros(()))
    colours = torch.zeros(3, 64, 64)
    colours[0] = 1.0  # a red photo
    features, seen = unproject_photo(grid, colours, camera, depth)
    toward = (grid.centres() @ (o / o.norm()))
    occupancy, _ = voxelise_surface(grid, verts, faces)
    near_shell = (occupancy > 0) & (toward > 0.05)
    far_shell = (occupancy > 0) & (toward < -0.05)
    assert seen[near_shell].mean() > 0.6 and seen[far_shell].sum() == 0
    assert torch.equal(features[0] > 0.5, seen > 0) and (features[1:] == 0).all()
    inputs = volume_inputs(grid, verts, faces, colours, camera, depth)
    assert inputs.shape == (1 + 3 + 3 + 1, 16, 16, 16)


def test_ray_box():
    near, far = ray_box(torch.tensor([[0.0, 0.0, -2.0], [0.0, 3.0, -2.0]]), torch.tensor([[0.0, 0.0, 1.0]] * 2),
                        torch.full((3,), -1.0), torch.full((3,), 1.0))
    assert near[0] == pytest.approx(1.0) and far[0] == pytest.approx(3.0)
    assert far[1] <= near[1]  # misses


def test_rays_read_the_volume_where_they_cross_it():
    config = HeadVolumeConfig(grid=8, photo_channels=3, hidden=8, features=4, samples=16, layers=1)
    volume = HeadFeatureVolume(config)
    grid = VolumeGrid(torch.full((3,), -0.1), 0.2, 8)
    cameras = orbit_cameras([0.0, 90.0], 0.0, distance=1.0, fov_deg=40.0, width=24, height=24)
    inputs = torch.zeros(config.input_channels, 8, 8, 8)
    torch.manual_seed(0)
    features, opacity = volume(inputs, grid, cameras)
    assert features.shape == (2, 4, 24, 24) and opacity.shape == (2, 1, 24, 24)
    assert (opacity >= 0).all() and (opacity <= 1).all()
    assert opacity[:, 0, 0, 0].eq(0).all() and (features[:, :, 0, 0] == 0).all()  # corner rays miss the cube
    assert opacity[:, 0, 12, 12].gt(0).all()
    # A dense voxel in front of the centre shows on the centre ray of the front view only.
    with torch.no_grad():
        for p in volume.parameters():
            p.zero_()
        volume.head.bias[0] = -20.0  # empty everywhere...
    base = volume(inputs, grid, cameras)[1]
    assert base.max() < 1e-3
    volume.trunk[0].weight.data[0, 0, 1, 1, 1] = 1.0  # the occupancy channel through the trunk...
    volume.head.weight.data[0, 0] = 60.0  # ...makes density where the input occupancy is 1
    inputs[0, 4, 4, 7] = 1.0  # x, y centre, z front (+z faces the az 0 camera)
    _, lit = volume(inputs, grid, cameras)
    centre, _ = cameras.project(grid.centres()[4, 4, 7][None])
    rows, cols = torch.nonzero(lit[0, 0] > 0.5, as_tuple=True)
    assert len(rows) > 0 and lit[0].sum() < 6  # one voxel's worth of pixels
    assert ((cols + 0.5 - centre[0, 0, 0]).abs() < 1.5).all() and ((rows + 0.5 - centre[0, 0, 1]).abs() < 1.5).all()
    # Gradients reach the CNN.
    volume.zero_grad()
    volume(inputs, grid, cameras)[0].sum().backward()
    assert volume.head.weight.grad.abs().sum() > 0
