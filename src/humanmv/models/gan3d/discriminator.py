"""3DHumanGAN's U-Net discriminator (Schonfeld et al. 2020 / OASIS, Sushko et al. 2021).

Input: rgb [B, 3, H, W] in [-1, 1] (+ the mask [B, 1, H, W] in [0, 1] as a 4th channel when
config.disc_with_mask). Encoder: a 3x3 stem, then config.disc_depth levels of a stride-2 3x3
conv and a 3x3 conv (channels disc_channels * 2^level, capped at disc_max_channels). Decoder:
per level 2x nearest upsampling, concatenation with the encoder's skip at that resolution, a
3x3 conv.

config.disc_loss = "segmentation": per-pixel logits [B, 2 + K, H, W] over 0 = fake,
1 = background, 2 + k = body part k (`losses.label_targets`). config.disc_loss = "binary" (the
ablation): an image-level real/fake logit [B] from the pooled bottleneck, and no decoder, so that
every parameter gets a gradient (DDP refuses parameters that never do).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from humanmv.models.gan3d.config import GAN3DConfig

LEAK = 0.2


@dataclass
class DiscriminatorOutput:
    """logits: [B, 2 + K, H, W] per-pixel class logits (segmentation mode, else None);
    image_logit: [B] real/fake logit (binary mode, else None)."""

    logits: torch.Tensor | None = None
    image_logit: torch.Tensor | None = None


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(LEAK))


class UNetDiscriminator(nn.Module):
    """`forward(rgb [B, 3, H, W], mask [B, 1, H, W] | None = None) -> DiscriminatorOutput`."""

    def __init__(self, config: GAN3DConfig):
        super().__init__()
        self.config = c = config
        self.segmentation = c.disc_loss == "segmentation"
        widths = [min(c.disc_channels * 2 ** i, c.disc_max_channels) for i in range(c.disc_depth + 1)]
        self.widths = widths
        self.stem = _conv(4 if c.disc_with_mask else 3, widths[0])
        self.down = nn.ModuleList([nn.Sequential(_conv(widths[i], widths[i + 1], stride=2),
                                                 _conv(widths[i + 1], widths[i + 1]))
                                   for i in range(c.disc_depth)])
        if self.segmentation:
            self.up = nn.ModuleList([_conv(widths[i + 1] + widths[i], widths[i]) for i in range(c.disc_depth)])
            self.classify = nn.Conv2d(widths[0], c.disc_classes, 1)
        else:
            self.image_head = nn.Linear(widths[-1], 1)

    def forward(self, rgb: torch.Tensor, mask: torch.Tensor | None = None) -> DiscriminatorOutput:
        c = self.config
        B = rgb.shape[0]
        assert rgb.shape == (B, 3, c.image_height, c.image_width), rgb.shape
        if c.disc_with_mask:
            assert mask is not None and mask.shape == (B, 1, c.image_height, c.image_width), \
                "this discriminator reads the mask: pass mask [B, 1, H, W]"
            rgb = torch.cat([rgb, mask.to(rgb.dtype)], 1)
        else:
            assert mask is None, "this discriminator does not read a mask (config.disc_with_mask is off)"
        x = self.stem(rgb)
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        if not self.segmentation:
            return DiscriminatorOutput(image_logit=self.image_head(x.mean((2, 3)))[:, 0])
        for i in reversed(range(c.disc_depth)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.up[i](torch.cat([x, skips[i]], 1))
        return DiscriminatorOutput(logits=self.classify(x))


__all__ = ["UNetDiscriminator", "DiscriminatorOutput"]
