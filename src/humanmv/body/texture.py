"""Project a photo onto the fitted body's UV texture: the "project" stage, first half.

A texel takes the photo's colour (bilinear) when its surface point is visible from the photo's
camera: its camera depth matches the depth map rendered from that camera (within
`depth_tolerance`), it projects inside the frame and inside the person mask. Its weight says
how much to trust that colour: cos^2 of the angle between the surface normal and the viewing
ray (0 below `min_cos`, so edge-on texels, which smear a pixel over many texels, are dropped),
times a ramp over the first `edge_px` pixels inside the person mask (boundary pixels mix in
the background).

Texture layout: S x S, row 0 = v 1 (the renderer's texture orientation, `render/uv_raster.py`).
`texture_fill.py` completes what the photo did not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from humanmv.cameras import Cameras
from humanmv.render import Renderer
from humanmv.render.uv_raster import UVRaster, oriented_vertex_normals, rasterize_uv


@dataclass
class SurfaceTexels:
    """The texels of a UV raster that lie on the surface, as flat arrays (N = covered texels).

    Pose-independent: built once per (topology, size), it maps any posed vertex set onto the
    texels (`interpolate`).

    Attributes:
        size: S, texels per side.
        index: (N,) int64 flat texel index (row * S + column), ascending.
        corners: (N, 3) int64 vertex indices of each texel's face.
        bary: (N, 3) float32 barycentric weights of the texel centre on those corners.
        part: (N,) int64 part label of each texel's face (-1 when the raster has none).
    """

    size: int
    index: np.ndarray
    corners: np.ndarray
    bary: np.ndarray
    part: np.ndarray

    @classmethod
    def from_raster(cls, raster: UVRaster, face_labels: torch.Tensor | None = None) -> "SurfaceTexels":
        S = raster.size
        face = raster.face_id.reshape(-1).numpy()
        index = np.flatnonzero(face >= 0)
        face = face[index]
        faces = raster.faces.numpy()
        part = (face_labels.detach().cpu().numpy()[face] if face_labels is not None
                else np.full(len(index), -1, np.int64))
        bary = raster.bary.reshape(-1, 3).numpy()[index]
        return cls(S, index, faces[face], np.ascontiguousarray(bary, np.float32), part)

    def __len__(self) -> int:
        return len(self.index)

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """(V, C) per-vertex values -> (N, C) at the texel centres."""
        v = np.asarray(values, np.float32)
        b = self.bary
        return (v[self.corners[:, 0]] * b[:, :1] + v[self.corners[:, 1]] * b[:, 1:2]
                + v[self.corners[:, 2]] * b[:, 2:3])

    def scatter(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, ...) -> (S, S, ...) image with `fill` on texels off the surface."""
        out = np.full((self.size * self.size,) + values.shape[1:], fill, values.dtype)
        out[self.index] = values
        return out.reshape((self.size, self.size) + values.shape[1:])


@dataclass
class ProjectedTexture:
    """The photo's colours on the body texture.

    Attributes:
        texture: (S, S, 3) float32 in [0, 1], the photo's colour where seen, 0 elsewhere.
        weight: (S, S) float32 in [0, 1], trust in that colour (0 = not seen).
        seen: (S, S) bool, weight > 0.
    """

    texture: torch.Tensor
    weight: torch.Tensor
    seen: torch.Tensor


def _photo01(photo) -> np.ndarray:
    arr = photo.detach().cpu().numpy() if isinstance(photo, torch.Tensor) else np.asarray(photo)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"photo must be (H, W, 3), got {arr.shape}")
    return arr.astype(np.float32) / 255 if arr.dtype == np.uint8 else arr.astype(np.float32)


def project_photo(photo: torch.Tensor, person_mask: torch.Tensor, vertices: torch.Tensor, body,
                  camera: Cameras, renderer: Renderer, size: int = 1024, *,
                  texels: SurfaceTexels | None = None, depth_tolerance: float = 0.015,
                  min_cos: float = 0.15, edge_px: float = 2.0) -> ProjectedTexture:
    """Colour the texels of the posed body that the photo sees.

    Args:
        photo: (H, W, 3) float in [0, 1] (uint8 is scaled), row 0 at the top.
        person_mask: (H, W) person mask in [0, 1] (bool accepted).
        vertices: (V, 3) the fitted body, world frame.
        body: the `AnnyBody` (faces, uvs, uv_faces, face_labels).
        camera: the photo's camera (1 view of the photo's size).
        renderer: renders the depth map from the photo camera.
        size: S, texels per side.
        texels: `SurfaceTexels` of this topology at `size` (saves a UV rasterisation; any pose).
        depth_tolerance: metres between a texel's camera depth and the depth map.
        min_cos: cosines of the viewing angle below this are not trusted at all.
        edge_px: pixels over which the weight ramps up inside the person mask.
    Returns:
        ProjectedTexture of S x S texels.
    """
    if len(camera) != 1:
        raise ValueError(f"project_photo needs the photo's single camera, got {len(camera)}")
    rgb = _photo01(photo)
    H, W = rgb.shape[:2]
    mask = (person_mask.detach().cpu().numpy() if isinstance(person_mask, torch.Tensor)
            else np.asarray(person_mask)).astype(np.float32)
    if mask.shape != (H, W):
        raise ValueError(f"person_mask must be {(H, W)} like the photo, got {mask.shape}")
    if (camera.width, camera.height) != (W, H):
        camera = camera.resized(W, H)
    verts = vertices.detach().to("cpu", torch.float32)
    if texels is None:
        texels = SurfaceTexels.from_raster(rasterize_uv(body.mesh(verts), size), body.face_labels)
    elif texels.size != size:
        raise ValueError(f"texels were built for size {texels.size}, not {size}")

    # Camera-space surface points and outward normals of the covered texels (transformed per
    # vertex, then interpolated: both are linear).
    w2c = camera.world_to_cam[0].double().numpy()
    R, t = w2c[:3, :3].astype(np.float32), w2c[:3, 3].astype(np.float32)
    v_np = verts.numpy()
    per_vertex = np.concatenate([v_np @ R.T + t,
                                 oriented_vertex_normals(verts, body.faces).numpy() @ R.T], 1)
    both = texels.interpolate(per_vertex)
    cam, n_cam = both[:, :3], both[:, 3:]
    K = camera.K[0].double().numpy()
    z = cam[:, 2]
    inv_z = 1.0 / np.maximum(z, 1e-6)
    px = (K[0, 0] * cam[:, 0] + K[0, 1] * cam[:, 1]) * inv_z + K[0, 2]
    py = K[1, 1] * cam[:, 1] * inv_z + K[1, 2]
    cos = -np.einsum("ij,ij->i", n_cam, cam) / np.sqrt(
        np.maximum(np.einsum("ij,ij->i", n_cam, n_cam) * np.einsum("ij,ij->i", cam, cam), 1e-24))

    # Visibility: the depth map's pixel under the texel holds (about) the texel's own depth.
    depth = renderer.render(body.mesh(verts), camera, outputs=("depth",)).depth[0].cpu().numpy()
    cand = np.flatnonzero((z > 0) & (cos >= min_cos) & (px >= 0) & (px < W) & (py >= 0) & (py < H))
    d = depth[py[cand].astype(np.int64), px[cand].astype(np.int64)]
    vis = cand[(d > 0) & (np.abs(z[cand] - d) < depth_tolerance)]

    # Colour, mask and distance to the mask's edge, bilinear at the texel's projection.
    person = (mask > 0.5).astype(np.uint8)
    edge = cv2.distanceTransform(person, cv2.DIST_L2, 3).astype(np.float32)
    stack = np.concatenate([rgb, mask[..., None], edge[..., None]], 2)
    grid = torch.from_numpy(np.stack([px[vis] * (2.0 / W) - 1, py[vis] * (2.0 / H) - 1], 1)
                            .astype(np.float32))
    samples = F.grid_sample(torch.from_numpy(stack).permute(2, 0, 1)[None], grid[None, None],
                            mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T.numpy()
    ramp = np.clip((samples[:, 4] - 0.5) / edge_px, 0.0, 1.0)
    w = np.where(samples[:, 3] > 0.5, cos[vis] ** 2 * ramp, 0.0).astype(np.float32)
    keep = w > 0
    colour = np.zeros((len(texels), 3), np.float32)
    weight = np.zeros(len(texels), np.float32)
    colour[vis[keep]] = np.clip(samples[keep, :3], 0.0, 1.0)
    weight[vis[keep]] = w[keep]
    tex = texels.scatter(colour)
    wt = texels.scatter(weight)
    return ProjectedTexture(torch.from_numpy(tex), torch.from_numpy(wt), torch.from_numpy(wt > 0))
