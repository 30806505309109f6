"""Exponential moving average of a model's weights, kept as a second model of the same class
so it saves (`save_pretrained`) and samples exactly like the trained one.

The decay warms up like diffusers' `EMAModel` (use_ema_warmup=False): at optimisation step t
(1-based) the decay is min(decay, (1 + t') / (10 + t')) with t' = t - 1, and 0 (a plain copy)
at t = 1, so early averages follow the fast-changing weights. The EMA's only state is its weights: the decay depends on
the global step alone, which the training state already holds.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay_at(step: int, decay: float) -> float:
    """The decay used for the update after optimisation step `step` (1-based)."""
    t = step - 1
    if t <= 0:
        return 0.0
    return min(decay, (1.0 + t) / (10.0 + t))


class EMA:
    """`ema = EMA(model, decay)`; after each optimiser step `ema.update(model, step)`;
    `ema.model` is the averaged copy (float32, eval mode, no gradients)."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).float().eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> float:
        """Move the average towards `model`'s weights; returns the decay used."""
        d = ema_decay_at(step, self.decay)
        ema_params = list(self.model.parameters())
        params = [p.detach().to(q.dtype) for p, q in zip(model.parameters(), ema_params)]
        if len(params) != len(ema_params):
            raise ValueError("EMA.update: the model's parameters differ from the average's")
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for b, src in zip(self.model.buffers(), model.buffers()):
            b.copy_(src)
        return d
