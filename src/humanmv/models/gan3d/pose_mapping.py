"""3DHumanGAN's 3D pose mapping network: a SIREN over canonical coordinates, rendered to a style map.

f(x_c, d_c) = (sigma, s): x_c [.., 3] a sample in canonical space (Anny's rest pose, world axes,
metres; `body_rays`), d_c [.., 3] its unit ray direction in canonical space; sigma >= 0 the
density (per metre), s in R^Ns the pose style vector. The MLP has periodic activations
(Sitzmann et al. 2020, "Implicit Neural Representations with Periodic Activation Functions"),
their initialisation with omega_0, and the direction fed in late (after the density, as NeRF
does), so the density does not depend on the view.

The style map is the alpha composite of s along each foreground ray (NeRF's quadrature):
alpha_k = 1 - exp(-sigma_k delta_k), T_k = prod_{i<k} (1 - alpha_i), style = sum_k T_k alpha_k s_k,
opacity = sum_k T_k alpha_k; background pixels are 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from humanmv.models.gan3d.body_rays import ShellSamples
from humanmv.models.gan3d.config import GAN3DConfig
from humanmv.models.ray_marching import composite


class SineLayer(nn.Module):
    """y = sin(omega_0 (W x + b)), [.., in] -> [.., out].

    Initialisation (Sitzmann et al., sec. 3.2): the first layer's W ~ U(-1/in, 1/in), so its
    sines span several periods over inputs in [-1, 1]; later layers' W ~ U(-sqrt(6/in)/omega_0,
    sqrt(6/in)/omega_0), which keeps every layer's pre-activation ~N(0, 1) scaled by omega_0 into
    sines whose outputs are arcsine-distributed on [-1, 1] (std 1/sqrt(2)) at any depth.
    """

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool = False):
        super().__init__()
        self.omega_0 = omega_0
        self.is_first = is_first
        self.linear = nn.Linear(in_features, out_features)
        bound = 1 / in_features if is_first else math.sqrt(6 / in_features) / omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


class Siren(nn.Module):
    """The implicit function: x [.., 3], d [.., 3] -> (sigma [..] >= 0 per metre, style [.., Ns]).

    Density is softplus(raw) / delta (delta = the shell's half-thickness), so that an untrained
    network is neither transparent nor opaque over a shell a few centimetres thick (softplus(0)
    over 2 delta gives an opacity of 1 - exp(-2 ln 2) = 0.75).
    """

    def __init__(self, width: int, depth: int, style_channels: int, omega_0: float, half_thickness: float):
        super().__init__()
        self.half_thickness = half_thickness
        self.trunk = nn.ModuleList([SineLayer(3, width, omega_0, is_first=True)] +
                                   [SineLayer(width, width, omega_0) for _ in range(depth - 1)])
        self.density = nn.Linear(width, 1)
        self.view = SineLayer(width + 3, width, omega_0)
        self.style = nn.Linear(width, style_channels)
        # Linear heads take the sines' ~unit outputs: SIREN's hidden bound keeps them O(1).
        for head in (self.density, self.style):
            with torch.no_grad():
                head.weight.uniform_(-math.sqrt(6 / width) / omega_0, math.sqrt(6 / width) / omega_0)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        for layer in self.trunk:
            h = layer(h)
        sigma = nn.functional.softplus(self.density(h)[..., 0]) / self.half_thickness
        style = self.style(self.view(torch.cat([h, d], -1)))
        return sigma, style


def integrate_along_rays(sigma: torch.Tensor, style: torch.Tensor, deltas: torch.Tensor,
                         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense ray integration of C views (NeRF alpha compositing).

    Args:
        sigma: [C, Hs, Ws, S] densities per metre. style: [C, Hs, Ws, S, Ns].
        deltas: [C, Hs, Ws, S] metres. mask: [C, Hs, Ws] 1 on foreground rays.
    Returns:
        style_map [C, Ns, Hs, Ws] and opacity [C, 1, Hs, Ws], both 0 on the background.
    """
    C, H, W, S = sigma.shape
    feat, acc = composite(sigma.reshape(-1, S), style.reshape(C * H * W, S, -1), deltas.reshape(-1, S))
    keep = mask.reshape(-1, 1).to(feat.dtype)
    style_map = (feat * keep).reshape(C, H, W, -1).permute(0, 3, 1, 2)
    opacity = (acc[:, None] * keep).reshape(C, H, W, 1).permute(0, 3, 1, 2)
    return style_map, opacity


class PoseMappingNetwork(nn.Module):
    """`forward(samples: ShellSamples) -> (style_map [C, Ns, Hs, Ws], opacity [C, 1, Hs, Ws])`.

    Only the foreground rays (`samples.foreground`) are evaluated; background pixels are 0.
    """

    def __init__(self, config: GAN3DConfig):
        super().__init__()
        self.config = config
        self.siren = Siren(config.siren_width, config.siren_depth, config.style_channels, config.siren_omega0,
                           config.shell_half_thickness)

    def query(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The implicit function at canonical points x [.., 3] with directions d [.., 3]:
        (sigma [..], style [.., Ns])."""
        return self.siren(x, d)

    def forward(self, samples: ShellSamples) -> tuple[torch.Tensor, torch.Tensor]:
        C, (H, W), S = samples.num_views, samples.size, samples.samples_per_ray
        Ns = self.config.style_channels
        fg = samples.foreground
        x = samples.canonical.reshape(-1, S, 3)[fg]
        d = samples.directions.reshape(-1, 3)[fg]
        sigma, style = self.siren(x, d[:, None].expand(-1, S, 3))
        feat, acc = composite(sigma, style, samples.deltas.reshape(-1, S)[fg])
        style_map = feat.new_zeros(C * H * W, Ns).index_copy(0, fg, feat)
        opacity = acc.new_zeros(C * H * W).index_copy(0, fg, acc)
        return style_map.reshape(C, H, W, Ns).permute(0, 3, 1, 2), opacity.reshape(C, 1, H, W)


__all__ = ["SineLayer", "Siren", "composite", "integrate_along_rays", "PoseMappingNetwork"]
