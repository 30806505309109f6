"""3DHumanGAN's appearance mapping network and its 2D generator backbone.

Appearance: z [B, Nz] -> w [B, Nw], a StyleGAN-style MLP (z normalised to unit RMS, then
linear + LeakyReLU layers). It tracks the mean w (`w_avg`, an EMA updated in training mode) for
the truncation trick, w' = w_avg + psi (w - w_avg).

Backbone (config.backbone = "1x1", the paper's): every layer is a 1x1 convolution at the full
image resolution H x W, so an output pixel depends only on the style map at that pixel (after
bilinear upsampling from Hs x Ws): no positional reference, which is what keeps the appearance
consistent across views and poses.
- input: a learned constant plus a 1x1 projection of the style map (the constant alone off the
  body). Not the constant alone: batch norm of a constant is 0 / 0, so the first SPADE layer
  would pass rounding noise (and its running variance would decay to 0).
- layers 0..K-1 take the pose style map through spatially adaptive BATCH norm: the conv's output
  normalised by BatchNorm2d without affine, then x (1 + gamma) + beta with gamma, beta from 1x1
  convs on the style map (SPADE, Park et al. 2019). Batch statistics do not mix pixels at test
  time (running statistics), unlike instance norm's per-image statistics.
- layers K.. are modulated by w: StyleGAN2's modulated convolution with demodulation (per input
  channel scale from an affine of w, output channels renormalised), a per-pixel operation too.
- rgb = tanh(1x1 conv) in [-1, 1], and a mask logit (1x1 conv).

Ablations: config.norm = "instance" uses InstanceNorm2d in the SPADE layers (per-image
statistics); config.backbone = "upsampling" runs the SPADE layers at the style-map resolution
with 3x3 convolutions (SPADE's own convs 3x3 too) and the first log2(H / Hs) appearance layers
each upsample 2x (bilinear) before a 3x3 modulated convolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from humanmv.models.gan3d.config import GAN3DConfig

LEAK = 0.2


class AppearanceMapping(nn.Module):
    """z [B, Nz] -> w [B, Nw]. `forward(z, truncation=1.0)`; `w_avg` [Nw] buffer (the mean w)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, w_avg_beta: float = 0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w [B, Nw] pulled toward w_avg: w_avg + psi (w - w_avg) (psi 1: unchanged, 0: w_avg)."""
        return self.w_avg.to(w.dtype) + psi * (w - self.w_avg.to(w.dtype)) if psi != 1 else w

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        assert z.ndim == 2 and z.shape[1] == self.layers[0].in_features, z.shape
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAK)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return self.truncate(x, truncation)


class SPADE(nn.Module):
    """Spatially adaptive normalisation: x [B, C, h, w], style [B, Ns, h, w] -> [B, C, h, w] =
    norm(x) (1 + gamma(style)) + beta(style); norm = BatchNorm2d or InstanceNorm2d, no affine.

    gamma and beta come from one conv (`scale_shift`, 2C outputs: 1 + gamma, then beta; the
    1 is its bias's start), so the modulation is one fused multiply-add at full resolution.
    """

    def __init__(self, channels: int, style_channels: int, hidden: int, norm: str, kernel: int = 1):
        super().__init__()
        assert norm in ("batch", "instance"), norm
        self.norm = (nn.BatchNorm2d(channels, affine=False) if norm == "batch"
                     else nn.InstanceNorm2d(channels, affine=False))
        pad = kernel // 2
        self.shared = nn.Sequential(nn.Conv2d(style_channels, hidden, kernel, padding=pad), nn.ReLU())
        self.scale_shift = nn.Conv2d(hidden, 2 * channels, kernel, padding=pad)
        with torch.no_grad():
            self.scale_shift.bias[:channels] += 1

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == style.shape[-2:] and x.shape[0] == style.shape[0], (x.shape, style.shape)
        scale, shift = self.scale_shift(self.shared(style)).chunk(2, dim=1)
        return torch.addcmul(shift, self.norm(x), scale)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated convolution: x [B, Cin, h, w], w [B, Nw] -> [B, Cout, h, w].

    y = conv(x, W_b) + bias with W_b = W s_b demod_b: s = affine(w) [B, Cin] scales the input
    channels (its bias starts at 1, so an untrained layer is close to a plain conv), demod
    [B, Cout] = rsqrt(sum_{in, kh, kw} (W s)^2) renormalises the outputs. One batched matmul per
    layer for 1x1 kernels (no elementwise passes over the image), a grouped conv otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel: int = 1, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.affine = nn.Linear(w_dim, in_channels)
        # StyleGAN2's start: s = 1 + N(0, |w|^2 / Nw), so w matters from the first step.
        nn.init.normal_(self.affine.weight, 0, 1 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        B, Cin, H, W = x.shape
        Cout, k = self.weight.shape[0], self.weight.shape[-1]
        s = self.affine(w)  # [B, Cin]
        weight = (self.weight / math.sqrt(Cin * k * k))[None] * s[:, None, :, None, None]  # [B, Cout, Cin, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum((2, 3, 4), keepdim=True) + 1e-8)
        if k == 1:
            y = torch.baddbmm(self.bias[None, :, None], weight.reshape(B, Cout, Cin), x.reshape(B, Cin, H * W))
            return y.reshape(B, Cout, H, W)
        y = F.conv2d(x.reshape(1, B * Cin, H, W), weight.reshape(B * Cout, Cin, k, k), padding=self.padding, groups=B)
        return y.reshape(B, Cout, H, W) + self.bias[None, :, None, None]


class GeneratorBackbone(nn.Module):
    """`forward(style_map [B, Ns, Hs, Ws], w [B, Nw]) -> (rgb [B, 3, H, W] in [-1, 1],
    mask_logit [B, 1, H, W])`, H x W = the config's image size (module docstring)."""

    def __init__(self, config: GAN3DConfig):
        super().__init__()
        self.config = c = config
        self.upsampling = c.backbone == "upsampling"
        kernel = 3 if self.upsampling else 1
        ch = c.backbone_channels
        # The constant is the projection's bias; no positional code of any kind.
        self.input = nn.Conv2d(c.style_channels, ch, kernel, padding=kernel // 2)
        nn.init.normal_(self.input.bias)
        self.spade_convs = nn.ModuleList([nn.Conv2d(ch, ch, kernel, padding=kernel // 2)
                                          for _ in range(c.spade_layers)])
        self.spades = nn.ModuleList([SPADE(ch, c.style_channels, c.spade_hidden, c.norm, kernel)
                                     for _ in range(c.spade_layers)])
        n_w = c.backbone_depth - c.spade_layers
        self.upsample_before = [self.upsampling and i < c.upsampling_steps for i in range(n_w)]
        self.w_convs = nn.ModuleList([ModulatedConv2d(ch, ch, c.w_dim, kernel) for _ in range(n_w)])
        self.to_rgb = nn.Conv2d(ch, 3, 1)
        self.to_mask = nn.Conv2d(ch, 1, 1)

    def forward(self, style_map: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        B = style_map.shape[0]
        assert style_map.shape == (B, c.style_channels, c.style_height, c.style_width), style_map.shape
        assert w.shape == (B, c.w_dim), w.shape
        style = style_map if self.upsampling else F.interpolate(
            style_map, size=(c.image_height, c.image_width), mode="bilinear", align_corners=False)
        x = self.input(style)
        for conv, spade in zip(self.spade_convs, self.spades):
            x = F.leaky_relu(spade(conv(x), style), LEAK, inplace=True)
        for up, conv in zip(self.upsample_before, self.w_convs):
            if up:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x, w), LEAK, inplace=True)
        assert x.shape[-2:] == (c.image_height, c.image_width), x.shape
        return torch.tanh(self.to_rgb(x)), self.to_mask(x)


__all__ = ["AppearanceMapping", "SPADE", "ModulatedConv2d", "GeneratorBackbone"]
