"""The photo's camera as a differentiable module, and its initial guess from 2D-3D points."""

from __future__ import annotations

import math

import torch

from humanmv.body.anny_model import axis_angle_to_matrix
from humanmv.cameras import look_at


class FitCamera(torch.nn.Module):
    """Differentiable world-to-camera [R | t] with a fixed K; R = exp(delta) @ R0."""

    def __init__(self, R0: torch.Tensor, t0: torch.Tensor, K: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("R0", R0)
        self.register_buffer("K", K)
        self.delta = torch.nn.Parameter(torch.zeros(3))
        self.txy = torch.nn.Parameter(t0[:2].clone())
        self.log_tz = torch.nn.Parameter(torch.log(t0[2:3]).clone())

    def world_to_cam(self) -> torch.Tensor:
        R = axis_angle_to_matrix(self.delta) @ self.R0
        t = torch.cat([self.txy, self.log_tz.exp()])
        w2c = torch.eye(4)
        w2c = torch.cat([torch.cat([R, t[:, None]], 1), w2c[3:]], 0)
        return w2c

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """points (N, 3) world -> pixels (N, 2), depth (N,)."""
        w2c = self.world_to_cam()
        cam = points @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2].clamp_min(1e-3)
        uv = torch.stack([self.K[0, 0] * cam[:, 0] / z + self.K[0, 2],
                          self.K[1, 1] * cam[:, 1] / z + self.K[1, 2]], -1)
        return uv, cam[:, 2]


def robust(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals: ~sq for small, bounded by sigma^2 for outliers."""
    return sq * sigma**2 / (sq + sigma**2)


def initial_camera(points3d: torch.Tensor, points2d: torch.Tensor, weights: torch.Tensor,
                    K: torch.Tensor, facing_away: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """R0 (3,3), t0 (3,) placing the body so that its confident points fall on their 2D
    positions at the right scale: depth from the median ratio of 3D to 2D pairwise distances."""
    az = 180.0 if facing_away else 0.0
    eye = torch.tensor([[math.sin(math.radians(az)), 0.0, math.cos(math.radians(az))]])
    R0 = look_at(eye, torch.zeros(1, 3))[0, :3, :3]
    sel = weights > 0
    p3, p2 = points3d[sel] @ R0.T, points2d[sel]
    i, j = torch.triu_indices(len(p3), len(p3), 1)
    d3 = (p3[i, :2] - p3[j, :2]).norm(dim=-1)
    d2 = (p2[i] - p2[j]).norm(dim=-1)
    ok = (d2 > 2.0) & (d3 > 0.02)
    f = float(K[0, 0])
    depth = float(torch.median(f * d3[ok] / d2[ok])) if ok.any() else 3.0
    centre3, centre2 = p3.mean(0), p2.mean(0)
    # Solve for t so that the 3D centroid projects onto the 2D centroid at `depth`.
    tz = depth - float(centre3[2])
    tx = (float(centre2[0]) - float(K[0, 2])) * depth / f - float(centre3[0])
    ty = (float(centre2[1]) - float(K[1, 2])) * depth / f - float(centre3[1])
    return R0, torch.tensor([tx, ty, max(tz, 0.3)])
