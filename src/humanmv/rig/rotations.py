"""Unit quaternions in glTF's order (x, y, z, w) and rigid 4x4 transforms, in torch.

glTF stores node rotations as unit quaternions (x, y, z, w); the rig keeps them in that order so
that what is written is what was computed. `quaternion_to_matrix` / `matrix_to_quaternion` are
exact inverses up to the sign of q (q and -q are one rotation); `slerp` interpolates key frames
the way glTF's LINEAR rotation sampler does (spherical, along the shorter arc).
"""

from __future__ import annotations

import torch


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (x, y, z, w), normalised here -> (..., 3, 3) rotations."""
    q = q / q.norm(dim=-1, keepdim=True)
    x, y, z, w = q.unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, -1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (x, y, z, w) with w >= 0.

    Shepperd's method: of the four candidate formulas the one with the largest denominator is
    used, so the result is accurate for every rotation (also near 180 degrees)."""
    m = R
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # 4 q_k^2 for k = w, x, y, z
    squares = torch.stack([1 + trace, 1 + 2 * m[..., 0, 0] - trace, 1 + 2 * m[..., 1, 1] - trace,
                           1 + 2 * m[..., 2, 2] - trace], -1)
    best = squares.argmax(-1, keepdim=True)
    s = 2 * torch.sqrt(squares.gather(-1, best).clamp_min(1e-30))[..., 0]  # 4 |q_best|
    a, b, c = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    d, e, f = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    candidates = torch.stack([
        torch.stack([a, b, c, s * s / 4], -1),          # w largest: (x, y, z, w) * s
        torch.stack([s * s / 4, d, e, a], -1),          # x largest
        torch.stack([d, s * s / 4, f, b], -1),          # y largest
        torch.stack([e, f, s * s / 4, c], -1),          # z largest
    ], -2)
    q = candidates.gather(-2, best[..., None].expand(*best.shape[:-1], 1, 4))[..., 0, :] / s[..., None]
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., 3:] < 0, -q, q)


def continuous_quaternions(q: torch.Tensor) -> torch.Tensor:
    """(T, ..., 4) key frames with signs flipped so that each key is on the same side as the one
    before it (q and -q are one rotation; a sign jump makes glTF's interpolation spin the long
    way round)."""
    out = q.clone()
    for t in range(1, out.shape[0]):
        flip = (out[t] * out[t - 1]).sum(-1, keepdim=True) < 0
        out[t] = torch.where(flip, -out[t], out[t])
    return out


def slerp(q0: torch.Tensor, q1: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of (..., 4) unit quaternions along the shorter arc; alpha (...,)
    in [0, 1]."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    a = alpha[..., None].to(q0.dtype)
    close = sin < 1e-6  # nearly equal keys: linear is exact enough and avoids 0 / 0
    w0 = torch.where(close, 1 - a, torch.sin((1 - a) * theta) / sin.clamp_min(1e-12))
    w1 = torch.where(close, a, torch.sin(a * theta) / sin.clamp_min(1e-12))
    q = w0 * q0 + w1 * q1
    return q / q.norm(dim=-1, keepdim=True)


def rigid(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations and (..., 3) translations -> (..., 4, 4) transforms."""
    out = torch.zeros(*rotation.shape[:-2], 4, 4, dtype=rotation.dtype, device=rotation.device)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1
    return out


def inverse_rigid(m: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) inverse of rigid transforms, [R^T | -R^T t], the last row exactly 0 0 0 1."""
    rt = m[..., :3, :3].transpose(-1, -2)
    return rigid(rt, -(rt @ m[..., :3, 3:])[..., 0])
