"""The photo's light, seen through the fitted body: one distant light plus ambient.

A photo's colours are albedo times shading. What the photo did not see (the back, the far
sides) is completed from what it saw, so the completion runs on albedo and the result is lit
again by the photo's own light at each texel's normal: a back turned away from the light comes
out as dark as that light leaves it, and under flat light (overcast, indoors) nothing changes.

The light is fitted to the squarely seen texels (`fit_photo_light`): each texel's colour is
modelled as its group's albedo (a group is a band of one garment or of skin, so nearly uniform)
times `ambient + (1 - ambient) * max(0, n . l)`, and the light direction and ambient that
explain the colours best are searched over a grid (the albedos have a closed form for each),
with the light above the horizon (sun, sky, ceiling: a light from below is a fit error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Never darker than this: real rooms and skies light a back far more than one lamp model says,
# and fit errors must not blacken it (on the engine's subjects, whose ambient is 0.35-0.6, the
# fit lands at 0.5-0.8: it errs bright).
MIN_AMBIENT = 0.45
AMBIENTS = (0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DIRECTIONS = 300
MAX_TEXELS = 2000  # plenty for 3 parameters; keeps the search under 0.1 s


@dataclass
class PhotoLight:
    """direction: (3,) unit, world, towards the light; ambient in [MIN_AMBIENT, 1] (1: flat light)."""

    direction: torch.Tensor
    ambient: float

    def shading(self, normal: torch.Tensor) -> torch.Tensor:
        """normal: (N, 3) unit, world -> (N,) shading factor in [ambient, 1]."""
        return self.ambient + (1 - self.ambient) * (normal @ self.direction).clamp_min(0)

    @classmethod
    def flat(cls) -> "PhotoLight":
        return cls(torch.tensor([0.0, 0.0, 1.0]), 1.0)


def sphere_directions(n: int) -> torch.Tensor:
    """(n, 3) nearly uniform unit vectors (a Fibonacci sphere)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    y = 1 - 2 * k / n
    r = (1 - y**2).sqrt()
    phi = k * math.pi * (3 - math.sqrt(5))
    return torch.stack([r * phi.cos(), y, r * phi.sin()], -1).float()


def fit_photo_light(colour: torch.Tensor, normal: torch.Tensor, group: torch.Tensor,
                    use: torch.Tensor, seed: int = 0) -> PhotoLight:
    """colour: (N, 3) photo colour; normal: (N, 3) unit world normals; group: (N,) int >= 0,
    texels sharing an albedo; use: (N,) bool, the texels to fit (seen squarely). Returns flat
    light when too few texels or groups constrain it."""
    idx = torch.nonzero(use & (group >= 0))[:, 0]
    if len(idx) > MAX_TEXELS:
        gen = torch.Generator().manual_seed(seed)
        idx = idx[torch.randperm(len(idx), generator=gen)[:MAX_TEXELS]]
    if len(idx) < 200:
        return PhotoLight.flat()
    c, n = colour[idx].float(), normal[idx].float()
    _, g = torch.unique(group[idx], return_inverse=True)
    onehot = torch.nn.functional.one_hot(g).float()  # (T, G)
    dirs = sphere_directions(DIRECTIONS)
    amb = torch.tensor(AMBIENTS)
    # shading (A * D, T) of every texel under every candidate ambient and direction
    s = (amb[:, None, None] + (1 - amb[:, None, None]) * (dirs @ n.T).clamp_min(0)[None]).reshape(-1, len(idx))
    # per candidate and group: albedo = sum(c s) / sum(s^2), residual = sum(c^2) - sum(c s)^2 / sum(s^2)
    ss = (s * s) @ onehot  # (K, G)
    cs = torch.stack([s @ (onehot * c[:, k:k + 1]) for k in range(3)], -1)  # (K, G, 3)
    residual = float((c**2).sum()) - ((cs**2).sum(-1) / ss.clamp_min(1e-12)).sum(-1).reshape(len(AMBIENTS), -1)
    residual[:, dirs[:, 1] < 0] = float("inf")  # light comes from above the horizon (sun, sky, ceiling)
    best = int(residual.argmin())
    a, d = divmod(best, DIRECTIONS)
    return PhotoLight(dirs[d].float(), float(amb[a]))
