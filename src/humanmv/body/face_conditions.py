"""3D face-structure conditions of the face stage, rendered in each face crop's own camera.

    regions = face_regions(body, vertices, cameras, renderer)
    crops = regions.crop_cameras(cameras, 128)                    # N visible faces at 128 x 128
    cond = face_conditions(body, vertices, crops, renderer)        # FaceConditions

For every crop camera: the posed body's camera-space normals and mask (the face rendered at the
crop's full resolution, not upsampled from the view), and one heatmap per landmark group
(`LANDMARK_GROUPS`, MediaPipe's face-mesh contours carried to Anny by `body.face_landmarks`):
a Gaussian of `sigma` pixels at each landmark the crop camera sees (in front of the rendered
depth, within `depth_tolerance`), the group's maximum. The subject's left eye is "left_eye".

Shapes: N crops of s x s; normals [N, s, s, 3] in [-1, 1] (OpenCV camera axes; 0 off the
body), mask [N, s, s], landmarks [N, G, s, s] in [0, 1], visible [N, 478] bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from humanmv.cameras import Cameras

LANDMARK_GROUPS = ("face_oval", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye", "nose", "lips")
# MediaPipe names the eyes from the subject's point of view, as we do.
_MEDIAPIPE_SETS = {"face_oval": "FACEMESH_FACE_OVAL", "left_eyebrow": "FACEMESH_LEFT_EYEBROW",
                   "right_eyebrow": "FACEMESH_RIGHT_EYEBROW", "left_eye": "FACEMESH_LEFT_EYE",
                   "right_eye": "FACEMESH_RIGHT_EYE", "nose": "FACEMESH_NOSE", "lips": "FACEMESH_LIPS"}


@lru_cache(maxsize=1)
def landmark_groups() -> tuple[tuple[int, ...], ...]:
    """The face-mesh landmark indices of each of LANDMARK_GROUPS (MediaPipe's contour sets)."""
    import mediapipe.python.solutions.face_mesh_connections as connections

    return tuple(tuple(sorted({i for edge in getattr(connections, _MEDIAPIPE_SETS[g]) for i in edge}))
                 for g in LANDMARK_GROUPS)


@dataclass
class FaceConditions:
    """The module docstring's tensors for N crop cameras."""

    normals: torch.Tensor
    mask: torch.Tensor
    landmarks: torch.Tensor
    visible: torch.Tensor

    def channels_first(self) -> torch.Tensor:
        """[N, 3 + 1 + G, s, s]: normals, mask, landmark heatmaps, as a network's condition input."""
        return torch.cat([self.normals.permute(0, 3, 1, 2), self.mask[:, None], self.landmarks], dim=1)


def landmark_heatmaps(pixels: torch.Tensor, visible: torch.Tensor, groups, height: int, width: int,
                      sigma: float) -> torch.Tensor:
    """[C, G, H, W]: per group the maximum of Gaussians (peak 1, `sigma` px) at the visible
    landmarks. pixels [C, L, 2] (x, y) in pixels, pixel centres at + 0.5; visible [C, L] bool."""
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    out = torch.zeros(pixels.shape[0], len(groups), height, width)
    for g, members in enumerate(groups):
        index = torch.tensor(members)
        p, v = pixels[:, index], visible[:, index]  # [C, M, 2], [C, M]
        dx = (xs[None, None] - p[..., 0:1]) ** 2  # [C, M, W]
        dy = (ys[None, None] - p[..., 1:2]) ** 2  # [C, M, H]
        blobs = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma ** 2)) * v[..., None, None]
        out[:, g] = blobs.amax(dim=1) if blobs.shape[1] else 0
    return out


@torch.no_grad()
def face_conditions(body, vertices: torch.Tensor, cameras: Cameras, renderer, sigma: float = 1.5,
                    depth_tolerance: float = 0.01) -> FaceConditions:
    """Normals, mask and landmark heatmaps of the posed body `vertices` [V, 3] in each of
    `cameras` (the face crops' cameras, `FaceRegions.crop_cameras`)."""
    from humanmv.body.face_landmarks import LandmarkMap

    out = renderer.render(body.mesh(vertices), cameras, outputs=("mask", "normal", "depth"))
    mask, normals, depth = out.mask.cpu(), out.normal.cpu(), out.depth.cpu()
    landmarks = vertices[LandmarkMap.load().vertex_index]  # [478, 3]
    pixels, z = cameras.project(landmarks)  # [C, L, 2], [C, L]
    H, W = cameras.height, cameras.width
    col = pixels[..., 0].floor().long().clamp(0, W - 1)
    row = pixels[..., 1].floor().long().clamp(0, H - 1)
    surface = depth[torch.arange(len(cameras))[:, None], row, col]
    inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < W) & (pixels[..., 1] >= 0) & (pixels[..., 1] < H)
    visible = inside & (z > 0) & (surface > 0) & (z <= surface + depth_tolerance)
    heatmaps = landmark_heatmaps(pixels, visible, landmark_groups(), H, W, sigma)
    return FaceConditions(normals * mask[..., None], mask, heatmaps, visible)


__all__ = ["FaceConditions", "LANDMARK_GROUPS", "face_conditions", "landmark_groups", "landmark_heatmaps"]
