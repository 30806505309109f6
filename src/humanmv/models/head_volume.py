"""The head-mesh feature volume (Gen3D-Face, seed 001): the fitted head and the photo in one 3D
grid, read out along each target pixel's ray as conditions for multi-view generation.

    volume = HeadFeatureVolume(HeadVolumeConfig())
    grid = head_grid(head_vertices)                                     # VolumeGrid round the head
    inputs = volume_inputs(grid, vertices, faces, photo_features, photo_camera, photo_depth)
    conditions, opacity = volume(inputs, grid, target_cameras)         # [C, F, h, w], [C, 1, h, w]

1. `volume_inputs`: on a G^3 grid (a cube round the head, world frame), the mesh as surface
   occupancy and mean normal per voxel (area-weighted surface samples; no inside/outside test,
   so open meshes work), and the photo's features unprojected through the photo camera onto the
   voxel centres the photo sees (closer than its depth map + a voxel's tolerance), with that
   visibility as one more channel: [1 + 3 + Fp + 1, G, G, G].
2. `HeadFeatureVolume`: a small 3D CNN (same-size convolutions) -> per voxel a density and F
   features; each target pixel's ray is sampled at S depths inside the cube, the volume read
   trilinearly, and the samples alpha-composited (NeRF) into [F] features and an opacity: what
   the multi-view UNet takes as extra condition channels at its working resolution.

Coordinates: world frame (metres, Y up), OpenCV cameras; grid index (i, j, k) runs along
(x, y, z), voxel centres at `origin + (index + 0.5) * voxel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from humanmv.cameras import Cameras
from humanmv.models.ray_marching import composite, pixel_rays
from humanmv.render.mesh import face_normals


@dataclass
class HeadVolumeConfig:
    """grid: voxels per side; photo_channels: Fp of the photo features; hidden / features: the
    CNN's width and F of its output; samples: S depths per ray; layers: 3D convolutions."""

    grid: int = 32
    photo_channels: int = 3
    hidden: int = 32
    features: int = 16
    samples: int = 32
    layers: int = 3

    @property
    def input_channels(self) -> int:
        return 1 + 3 + self.photo_channels + 1


@dataclass
class VolumeGrid:
    """A cube of `size`^3 voxels: origin [3] (its min corner, world), side (metres)."""

    origin: torch.Tensor
    side: float
    size: int

    @property
    def voxel(self) -> float:
        return self.side / self.size

    def centres(self) -> torch.Tensor:
        """[G, G, G, 3] voxel centres, index (i, j, k) along (x, y, z)."""
        t = (torch.arange(self.size, dtype=torch.float32) + 0.5) * self.voxel
        x, y, z = torch.meshgrid(t, t, t, indexing="ij")
        return torch.stack([x, y, z], dim=-1) + self.origin.float()

    def normalised(self, points: torch.Tensor) -> torch.Tensor:
        """points [..., 3] world -> [-1, 1] grid coordinates (x, y, z), as grid_sample takes them."""
        return (points - self.origin.to(points)) / self.side * 2 - 1


def head_grid(head_vertices: torch.Tensor, size: int = 32, margin: float = 1.25) -> VolumeGrid:
    """The cube centred on the box of `head_vertices` [N, 3], `margin` x its longest side (room
    for hair), split into `size`^3 voxels."""
    lo, hi = head_vertices.min(0).values, head_vertices.max(0).values
    side = float((hi - lo).max()) * margin
    return VolumeGrid((lo + hi) / 2 - side / 2, side, size)


def surface_samples(vertices: torch.Tensor, faces: torch.Tensor, count: int,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` points [count, 3] spread over the mesh by area, and their faces' unit normals [count, 3]."""
    doubled = face_normals(vertices, faces, unit=False)
    area = doubled.norm(dim=-1)
    pick = torch.multinomial(area / area.sum(), count, replacement=True, generator=generator)
    u, v = torch.rand(2, count, generator=generator)
    flip = u + v > 1
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    a, b, c = (vertices[faces[pick, k]] for k in range(3))
    return a + u[:, None] * (b - a) + v[:, None] * (c - a), F.normalize(doubled[pick], dim=-1)


def voxelise_surface(grid: VolumeGrid, vertices: torch.Tensor, faces: torch.Tensor,
                     samples_per_voxel: float = 8.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface occupancy [G, G, G] in {0, 1} and mean unit normal [G, G, G, 3] (0 where empty)
    of the mesh's part inside the grid, from area-weighted surface samples (deterministic)."""
    G = grid.size
    points, normals = surface_samples(vertices, faces, int(samples_per_voxel * G * G * 6),
                                      torch.Generator().manual_seed(0))
    index = torch.floor((points - grid.origin) / grid.voxel).long()
    inside = ((index >= 0) & (index < G)).all(dim=1)
    flat = (index[inside] * torch.tensor([G * G, G, 1])).sum(1)
    sums = torch.zeros(G ** 3, 3).index_add_(0, flat, normals[inside])
    counts = torch.zeros(G ** 3).index_add_(0, flat, torch.ones(len(flat)))
    occupancy = (counts > 0).float().reshape(G, G, G)
    return occupancy, F.normalize(sums, dim=-1).reshape(G, G, G, 3)


def unproject_photo(grid: VolumeGrid, features: torch.Tensor, camera: Cameras,
                    depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo features [Fp, Hp, Wp] carried onto the voxel centres the photo camera (one camera)
    sees: a centre projecting inside the image no more than one voxel diagonal behind the depth
    map `depth` [Hp, Wp] (metres, 0 = background, where nothing is seen). Returns the features
    [Fp, G, G, G] (0 where unseen) and the visibility [G, G, G] in {0, 1}."""
    assert len(camera) == 1 and features.shape[1:] == depth.shape, (len(camera), features.shape, depth.shape)
    G, (Hp, Wp) = grid.size, depth.shape
    centres = grid.centres().reshape(-1, 3)
    pixels, z = camera.project(centres)
    pixels, z = pixels[0], z[0]
    gx, gy = pixels[:, 0] / Wp * 2 - 1, pixels[:, 1] / Hp * 2 - 1
    at = torch.stack([gx, gy], -1)[None, None]  # [1, 1, G^3, 2]
    surface = F.grid_sample(depth[None, None].float(), at, mode="nearest", align_corners=False)[0, 0, 0]
    seen = (z > 0) & (gx.abs() <= 1) & (gy.abs() <= 1) & (surface > 0) & (z <= surface + grid.voxel * 3 ** 0.5)
    sampled = F.grid_sample(features[None].float(), at, mode="bilinear", align_corners=False)[0, :, 0]
    shape = (G, G, G)
    return (sampled * seen).reshape(-1, *shape), seen.float().reshape(shape)


def volume_inputs(grid: VolumeGrid, vertices: torch.Tensor, faces: torch.Tensor, photo_features: torch.Tensor,
                  photo_camera: Cameras, photo_depth: torch.Tensor) -> torch.Tensor:
    """[1 + 3 + Fp + 1, G, G, G]: occupancy, normals, photo features, photo visibility (module docstring)."""
    occupancy, normals = voxelise_surface(grid, vertices, faces)
    photo, seen = unproject_photo(grid, photo_features, photo_camera, photo_depth)
    return torch.cat([occupancy[None], normals.permute(3, 0, 1, 2), photo, seen[None]])


def ray_box(origins: torch.Tensor, directions: torch.Tensor, lo: torch.Tensor,
            hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test: entry and exit distances [...] of rays (origins [..., 3], unit directions
    [..., 3]) through the box lo..hi [3]; exit <= entry where a ray misses it."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0, t1 = (lo - origins) / safe, (hi - origins) / safe
    near = torch.minimum(t0, t1).max(dim=-1).values.clamp_min(0)
    far = torch.maximum(t0, t1).min(dim=-1).values
    return near, far


class HeadFeatureVolume(nn.Module):
    """`forward(inputs [Cin, G, G, G], grid, cameras) -> (features [C, F, H, W], opacity [C, 1, H, W])`
    at the cameras' canvas H x W (module docstring, step 2)."""

    def __init__(self, config: HeadVolumeConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.input_channels
        for _ in range(config.layers):
            layers += [nn.Conv3d(channels, config.hidden, 3, padding=1), nn.SiLU()]
            channels = config.hidden
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv3d(channels, 1 + config.features, 1)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """[1 + F, G, G, G]: density (softplus, per metre scale left to training) and features."""
        assert inputs.shape[0] == self.config.input_channels, inputs.shape
        return self.head(self.trunk(inputs[None]))[0]

    def forward(self, inputs: torch.Tensor, grid: VolumeGrid, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
        volume = self.encode(inputs)
        device = volume.device
        origins, directions = pixel_rays(cameras, device)  # [C, 3], [C, H, W, 3]
        C, H, W, _ = directions.shape
        origins = origins[:, None, None].expand(C, H, W, 3)
        lo = grid.origin.to(device).float()
        near, far = ray_box(origins, directions, lo, lo + grid.side)
        hit = far > near
        S = self.config.samples
        steps = (torch.arange(S, device=device, dtype=torch.float32) + 0.5) / S
        t = near[..., None] + (far - near).clamp_min(0)[..., None] * steps  # [C, H, W, S]
        points = origins[..., None, :] + directions[..., None, :] * t[..., None]
        # grid_sample's 5D input is [N, C, D, H, W] sampled at (x, y, z) = (W, H, D) axes: our
        # (i, j, k) volume is [x, y, z], so the coordinates go in reversed.
        coords = grid.normalised(points).flip(-1).reshape(1, C * H * W, S, 1, 3)
        # "border": the half voxel at the cube's faces reads the face voxels, not a raw 0 (softplus(0) is dense).
        sampled = F.grid_sample(volume[None], coords, mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled[0, :, :, :, 0].permute(1, 2, 0)  # [CHW, S, 1 + F]
        sigma = F.softplus(sampled[..., 0]) / grid.voxel  # about one voxel's optical depth per unit
        deltas = ((far - near).clamp_min(0) / S).reshape(-1, 1).expand(-1, S)
        features, opacity = composite(sigma, sampled[..., 1:], deltas)
        keep = hit.reshape(-1, 1).to(features.dtype)
        features = (features * keep).reshape(C, H, W, -1).permute(0, 3, 1, 2)
        opacity = (opacity[:, None] * keep).reshape(C, H, W, 1).permute(0, 3, 1, 2)
        return features, opacity


__all__ = ["HeadFeatureVolume", "HeadVolumeConfig", "VolumeGrid", "head_grid", "ray_box", "surface_samples",
           "unproject_photo", "volume_inputs", "voxelise_surface"]
