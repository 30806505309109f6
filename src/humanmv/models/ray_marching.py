"""Volume rendering along rays: NeRF alpha compositing, front to back (3DHumanGAN's style map,
the head feature volume's ray features)."""

from __future__ import annotations

import torch


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


__all__ = ["composite"]
