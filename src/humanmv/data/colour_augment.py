"""Appearance augmentation for view generators: one random colour transform per subject,
applied alike to its photo, its coarse conditions and its target views.

A generator trained on a few hundred synthetic outfits drifts towards their average colours on
a person it has not seen (white clothes turn purple and green at the sides). When the same
hue rotation, saturation, contrast and brightness change hits the input and the targets, the
only way to predict the targets is to carry the input's colours over, so the model learns to
follow the photo rather than the training set (seed 003, A.1).

The transform is linear in RGB up to a final clamp and gamma: a rotation of the chroma about
the grey axis by `hue` degrees, chroma scaled by `saturation`, contrast about mid-grey,
brightness as a gain, then a gamma. Pixels outside the person (alpha) stay white.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ColourJitter:
    """One subject's colour transform (degrees and factors; identity = 0, 1, 1, 1, 1)."""

    hue: float = 0.0
    saturation: float = 1.0
    contrast: float = 1.0
    brightness: float = 1.0
    gamma: float = 1.0

    def matrix(self) -> torch.Tensor:
        """(3, 3) float64 linear part: hue rotation and saturation about the grey axis, then
        contrast and brightness (`apply` adds the matching offset)."""
        grey = torch.full((3, 3), 1.0 / 3, dtype=torch.float64)
        axis = torch.ones(3, dtype=torch.float64) / math.sqrt(3.0)
        k = torch.tensor([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]],
                         dtype=torch.float64)
        a = math.radians(self.hue)
        rotation = torch.eye(3, dtype=torch.float64) + math.sin(a) * k + (1 - math.cos(a)) * (k @ k)
        chroma = self.saturation * (rotation @ (torch.eye(3, dtype=torch.float64) - grey))
        return self.brightness * self.contrast * (grey + chroma)


def sample_colour_jitter(rng: np.random.Generator, strength: float = 1.0) -> ColourJitter:
    """A random transform; `strength` in [0, 1] scales every range (0 = identity). At 1: hue
    anywhere on the circle, saturation x0.5-1.5, contrast x0.75-1.25, brightness x0.8-1.2,
    gamma 0.8-1.25 (log-uniform where a factor)."""
    assert 0.0 <= strength <= 1.0, strength

    def factor(lo: float, hi: float) -> float:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi)) * strength))

    return ColourJitter(hue=float(rng.uniform(-180.0, 180.0) * strength), saturation=factor(0.5, 1.5),
                        contrast=factor(0.75, 1.25), brightness=factor(0.8, 1.2), gamma=factor(0.8, 1.25))


def apply_colour_jitter(rgb: torch.Tensor, alpha: torch.Tensor, jitter: ColourJitter) -> torch.Tensor:
    """rgb [..., 3, H, W] in [0, 1], composited on white; alpha [..., 1, H, W] in [0, 1]
    (the same leading shape). Returns the transformed rgb, again on white, same shape and
    dtype. The person's colour is un-composited from white before the transform, so edge
    pixels keep their blend."""
    assert rgb.shape[-3] == 3 and alpha.shape[-3] == 1 and rgb.shape[-2:] == alpha.shape[-2:], \
        (rgb.shape, alpha.shape)
    a = alpha.to(torch.float64).clamp(0, 1)
    colour = torch.where(a > 1e-3, (rgb.to(torch.float64) - (1 - a)) / a.clamp_min(1e-3), rgb.to(torch.float64))
    m = jitter.matrix().to(colour.device)
    offset = 0.5 * (1 - jitter.contrast) * jitter.brightness      # contrast pivots on mid-grey
    moved = torch.einsum("ij,...jhw->...ihw", m, colour.clamp(0, 1)) + offset
    moved = moved.clamp(0, 1) ** jitter.gamma
    return (a * moved + (1 - a)).to(rgb.dtype)
