"""Rays through pixels and volume rendering along them: `pixel_rays` (every camera's pixel
centres, world frame) and `composite` (NeRF alpha compositing, front to back), for 3DHumanGAN's
style map and the head feature volume's ray features."""

from __future__ import annotations

import torch

from humanmv.cameras import Cameras


def pixel_rays(cameras: Cameras, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through the pixel centres of every camera's canvas.

    Returns:
        origins [C, 3] camera centres, world frame; directions [C, H, W, 3] unit, world frame
        (OpenCV pinhole: pixel (row i, column j) looks along R^T K^-1 [j + 0.5, i + 0.5, 1]).
    """
    H, W = cameras.height, cameras.width
    rows = torch.arange(H, device=device, dtype=torch.float32) + 0.5
    cols = torch.arange(W, device=device, dtype=torch.float32) + 0.5
    pix = torch.stack([cols[None, :].expand(H, W), rows[:, None].expand(H, W), torch.ones(H, W, device=device)], -1)
    K_inv = torch.linalg.inv(cameras.K.to(device, torch.float32))  # [C, 3, 3]
    R = cameras.world_to_cam[:, :3, :3].to(device, torch.float32)
    t = cameras.world_to_cam[:, :3, 3].to(device, torch.float32)
    cam_dirs = torch.einsum("cij,hwj->chwi", K_inv, pix)
    world_dirs = torch.einsum("cji,chwj->chwi", R, cam_dirs)  # R^T d
    origins = -torch.einsum("cji,cj->ci", R, t)
    return origins, torch.nn.functional.normalize(world_dirs, dim=-1)


def composite(sigma: torch.Tensor, style: torch.Tensor, deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Alpha-composite along rays (front to back).

    Args:
        sigma: [N, S] densities per metre, >= 0. style: [N, S, Ns]. deltas: [N, S] metres.
    Returns:
        style [N, Ns] = sum_k T_k alpha_k s_k and opacity [N] = sum_k T_k alpha_k in [0, 1].
    """
    assert sigma.shape == deltas.shape and style.shape[:2] == sigma.shape, (sigma.shape, style.shape, deltas.shape)
    alpha = 1 - torch.exp(-sigma * deltas)
    # Exclusive cumulative product in log space: exp(-sum_{i<k} sigma_i delta_i) is T_k exactly.
    optical = torch.cumsum(sigma * deltas, dim=1)
    transmittance = torch.exp(-torch.cat([torch.zeros_like(optical[:, :1]), optical[:, :-1]], 1))
    weights = transmittance * alpha
    return (weights[..., None] * style).sum(1), weights.sum(1)


__all__ = ["composite", "pixel_rays"]
