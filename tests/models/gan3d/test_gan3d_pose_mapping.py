"""The pose mapping network: SIREN initialisation, alpha compositing, the sparse forward."""

from __future__ import annotations

import math

import torch

from humanmv.models.gan3d import PoseMappingNetwork, SineLayer, Siren, composite, integrate_along_rays


def test_siren_initialisation_statistics():
    """Sitzmann et al.: first-layer weights within 1/in, later ones within sqrt(6/in)/omega_0, so
    every later layer's pre-activation omega_0 W h is ~unit variance and every sine layer's
    output arcsine-distributed on [-1, 1] (mean 0, std 1/sqrt(2)) at any depth."""
    torch.manual_seed(0)
    omega, width = 30.0, 256
    siren = Siren(width, 5, 8, omega, half_thickness=0.05)
    first, hidden = siren.trunk[0].linear.weight.detach(), siren.trunk[3].linear.weight.detach()
    assert 0.9 / 3 < float(first.abs().max()) <= 1 / 3
    bound = math.sqrt(6 / width) / omega
    assert 0.9 * bound < float(hidden.abs().max()) <= bound
    h = torch.rand(20000, 3) * 2 - 1
    with torch.no_grad():
        for i, layer in enumerate(siren.trunk):
            if i >= 1:
                pre = omega * h @ layer.linear.weight.T
                assert abs(float(pre.std()) - 1) < 0.1, (i, float(pre.std()))
            h = layer(h)
            assert abs(float(h.std()) - 1 / math.sqrt(2)) < 0.04, (i, float(h.std()))
            assert abs(float(h.mean())) < 0.1
    assert SineLayer(3, 4, omega, is_first=True).is_first


def test_opaque_first_sample_gives_its_style():
    g = torch.Generator().manual_seed(0)
    style = torch.randn(7, 5, 3, generator=g)
    sigma = torch.full((7, 5), 1e5)
    deltas = torch.full((7, 5), 0.01)
    feat, acc = composite(sigma, style, deltas)
    assert torch.allclose(feat, style[:, 0], atol=1e-5) and torch.allclose(acc, torch.ones(7))


def test_zero_density_gives_zero_opacity_and_style():
    feat, acc = composite(torch.zeros(4, 6), torch.randn(4, 6, 2), torch.full((4, 6), 0.02))
    assert torch.equal(acc, torch.zeros(4)) and torch.equal(feat, torch.zeros(4, 2))


def test_two_sample_weights_are_front_to_back():
    sigma, deltas = torch.tensor([[10.0, 30.0]]), torch.tensor([[0.05, 0.05]])
    style = torch.tensor([[[1.0], [0.0]]])
    a0, a1 = 1 - math.exp(-0.5), 1 - math.exp(-1.5)
    feat, acc = composite(sigma, style, deltas)
    assert abs(float(feat) - a0) < 1e-6 and abs(float(acc) - (a0 + (1 - a0) * a1)) < 1e-6


def test_integrate_along_rays_layout_and_background():
    C, H, W, S, Ns = 2, 3, 4, 5, 6
    sigma = torch.full((C, H, W, S), 50.0)
    style = torch.arange(Ns, dtype=torch.float32).expand(C, H, W, S, Ns)
    mask = torch.zeros(C, H, W)
    mask[1, 2, 3] = 1
    style_map, opacity = integrate_along_rays(sigma, style, torch.full((C, H, W, S), 0.01), mask)
    assert style_map.shape == (C, Ns, H, W) and opacity.shape == (C, 1, H, W)
    expected = 1 - math.exp(-50 * 0.01 * S)
    assert abs(float(opacity[1, 0, 2, 3]) - expected) < 1e-5
    assert torch.allclose(style_map[1, :, 2, 3], torch.arange(Ns) * expected, atol=1e-5)
    assert float(opacity.sum()) == float(opacity[1, 0, 2, 3]) and float(style_map[0].abs().sum()) == 0


@torch.no_grad()
def test_network_runs_on_foreground_rays_only(tiny, toy_samples):
    torch.manual_seed(0)
    net = PoseMappingNetwork(tiny)
    samples = toy_samples(tiny, views=2)
    style_map, opacity = net(samples)
    C, Ns = 2, tiny.style_channels
    assert style_map.shape == (C, Ns, tiny.style_height, tiny.style_width)
    assert opacity.shape == (C, 1, tiny.style_height, tiny.style_width)
    bg = samples.mask[:, None] == 0
    assert (style_map * bg).abs().sum() == 0 and (opacity * bg).abs().sum() == 0
    # The sparse path equals dense evaluation of every ray, masked.
    S = tiny.samples_per_ray
    sigma, style = net.query(samples.canonical, samples.directions[..., None, :].expand(-1, -1, -1, S, -1))
    dense_map, dense_opacity = integrate_along_rays(sigma, style, samples.deltas, samples.mask)
    assert torch.allclose(style_map, dense_map, atol=1e-6) and torch.allclose(opacity, dense_opacity, atol=1e-6)
    fg_opacity = opacity[~bg]
    assert float(fg_opacity.min()) > 0.2 and float(fg_opacity.max()) < 1  # neither transparent nor opaque
    # The direction reaches the style, not the density.
    flipped = net.query(samples.canonical, -samples.directions[..., None, :].expand(-1, -1, -1, S, -1))
    assert torch.equal(flipped[0], sigma) and not torch.allclose(flipped[1], style)
