"""A small conv encoder: the reference view -> image tokens for the UNet's cross-attention.

It plays the role of Zero123's CLIP image embedding (a global "what does this person look like"
signal for attn2), while the fine detail reaches the UNet through reference attention in attn1.
Trained from scratch with the UNet; no downloaded weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """(S, in_channels, h, w) in model space -> (S, num_tokens, out_dim) image tokens.

    Convs halve the resolution per stage, an adaptive average pool makes a sqrt(T) x sqrt(T)
    grid (any input size works), and a linear layer + learned position embedding give the tokens.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_dim: int, num_tokens: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1)]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.SiLU(), nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
        layers += [nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.grid = math.isqrt(num_tokens)
        self.pool = nn.AdaptiveAvgPool2d(self.grid)
        self.proj = nn.Linear(channels[-1], out_dim)
        self.pos = nn.Parameter(torch.randn(1, num_tokens, out_dim) * 0.02)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.convs(image))  # (S, C, g, g)
        x = x.flatten(2).transpose(1, 2)  # (S, g*g, C), row-major grid order
        return self.norm(self.proj(x) + self.pos)
