"""Checks that a subject's ground truth agrees with itself (depth, normals and cameras):

- `reprojection_errors`: a pixel of view a, lifted with its depth and the cameras, lands in
  view b; lifted again there with b's depth (bilinear) and projected back into a, it should come
  back to where it started. Points b does not see (an occluder in front: the depths disagree) or
  that fall on b's silhouette edge are left out.
- `normal_depth_angles`: the angle between the stored camera-space normal and the normal of the
  surface the depth map describes (cross product of its gradients, lifted through K), on
  interior pixels away from depth edges.

Both work on `Views` (as `format.read_subject` returns them; depth in metres).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from humanmv.views import Views, channels_first, channels_last


def lift(depth: torch.Tensor, K: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N, 3) camera-space points at pixel coordinates u, v (N,) (pixel centres at +0.5) and
    camera z `depth` (N,); K (3, 3)."""
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    return torch.stack([x * depth, y * depth, depth], -1)


def _project(K: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    uvw = pts @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


def _to(w2c_from: torch.Tensor, w2c_to: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Camera-space points of one camera -> camera space of another."""
    T = w2c_to @ torch.linalg.inv(w2c_from)
    return pts @ T[:3, :3].T + T[:3, 3]


def reprojection_errors(views: Views, a: int, b: int, depth_tol: float = 0.01) -> torch.Tensor:
    """(N,) round-trip reprojection errors in pixels of view a's pixels that view b sees."""
    cams = views.cameras
    K = cams.K.double()
    w2c = cams.world_to_cam.double()
    depth, mask = views.depth.double(), views.mask > 0
    H, W = depth.shape[1:]
    rows, cols = torch.nonzero(mask[a], as_tuple=True)
    ua, va = cols.double() + 0.5, rows.double() + 0.5
    pts_b = _to(w2c[a], w2c[b], lift(depth[a, rows, cols], K[a], ua, va))
    uvb = _project(K[b], pts_b)
    # Bilinear depth of b, only where its 4 neighbours are all on the subject.
    x0, y0 = torch.floor(uvb[:, 0] - 0.5), torch.floor(uvb[:, 1] - 0.5)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 < W - 1) & (y0 < H - 1)
    x0, y0 = x0.long().clamp(0, W - 2), y0.long().clamp(0, H - 2)
    fx, fy = uvb[:, 0] - 0.5 - x0, uvb[:, 1] - 0.5 - y0
    corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]
    d = torch.stack([depth[b, r, c] for r, c in corners], -1)
    on = torch.stack([mask[b, r, c] for r, c in corners], -1).all(-1)
    w = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], -1)
    zb = (d * w).sum(-1)
    # Depth test: b's surface there must be this point (not an occluder in front of it), and
    # the 4 depths one surface (not straddling a depth edge).
    seen = inside & on & ((zb - pts_b[:, 2]).abs() < depth_tol) & (d.max(-1).values - d.min(-1).values < 4 * depth_tol)
    back = _to(w2c[b], w2c[a], lift(zb[seen], K[b], uvb[seen, 0], uvb[seen, 1]))
    return (_project(K[a], back) - torch.stack([ua, va], -1)[seen]).norm(dim=-1)


def depth_normals(depth: torch.Tensor, K: torch.Tensor, step: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space unit normals (H, W, 3) of the surface a depth map (H, W) describes, from
    central differences `step` pixels apart, facing the camera; and (H, W) bool where they are
    defined (all 4 neighbours on the subject)."""
    H, W = depth.shape
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                          torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    P = lift(depth.double().reshape(-1), K.double(), u.reshape(-1), v.reshape(-1)).reshape(H, W, 3)
    pad = channels_last(F.pad(channels_first(P)[None], (step,) * 4)[0])
    dpad = F.pad(depth.double()[None, None], (step,) * 4)[0, 0]
    s = step
    du = pad[s:s + H, 2 * s:] - pad[s:s + H, :W]
    dv = pad[2 * s:, s:s + W] - pad[:H, s:s + W]
    n = F.normalize(torch.cross(du, dv, dim=-1), dim=-1)
    n = torch.where(((n * P).sum(-1) > 0)[..., None], -n, n)  # face the camera
    valid = (depth > 0) & (dpad[s:s + H, 2 * s:] > 0) & (dpad[s:s + H, :W] > 0) & (dpad[2 * s:, s:s + W] > 0) & (dpad[:H, s:s + W] > 0)
    return n.float(), valid


def normal_depth_angles(views: Views, view: int, step: int = 2, edge: float = 0.03) -> torch.Tensor:
    """(N,) degrees between the stored normals and the depth map's normals of one view, on
    interior pixels: all neighbours within 2 * step on the subject and no depth jump over
    `edge` metres between the pixels the differences use."""
    depth = views.depth[view]
    n_depth, valid = depth_normals(depth, views.cameras.K[view], step)
    # Away from depth edges: the local depth range (a (4 step + 1)^2 window) stays small.
    d = depth[None, None]
    big = torch.where(d > 0, d, torch.full_like(d, 1e3))
    k = 4 * step + 1
    hi = F.max_pool2d(d, k, 1, k // 2)[0, 0]
    lo = -F.max_pool2d(-big, k, 1, k // 2)[0, 0]
    interior = valid & (hi - lo < edge) & (views.mask[view] > 0)
    cos = (n_depth[interior] * views.normal[view][interior]).sum(-1).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))
