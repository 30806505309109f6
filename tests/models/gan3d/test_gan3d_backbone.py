"""The appearance mapping and the backbone: pixel independence of the 1x1 backbone, the
ablation switches, modulated convolutions, truncation toward the tracked mean w."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from humanmv.models.gan3d import SPADE, AppearanceMapping, GeneratorBackbone, ModulatedConv2d, get_gan3d_config


def _backbone(config, seed: int = 0) -> GeneratorBackbone:
    torch.manual_seed(seed)
    return GeneratorBackbone(config).eval()


def _inputs(config, B: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    style = torch.randn(B, config.style_channels, config.style_height, config.style_width, generator=g)
    return style, torch.randn(B, config.w_dim, generator=g)


def _footprint(config, row: int, col: int) -> torch.Tensor:
    """[H, W] bool: the image pixels bilinear upsampling lets style pixel (row, col) reach."""
    delta = torch.zeros(1, 1, config.style_height, config.style_width)
    delta[0, 0, row, col] = 1
    up = F.interpolate(delta, size=(config.image_height, config.image_width), mode="bilinear", align_corners=False)
    return up[0, 0] > 0


@torch.no_grad()
def test_1x1_backbone_is_pixel_independent(tiny):
    net = _backbone(tiny)
    style, w = _inputs(tiny)
    rgb, mask = net(style, w)
    assert rgb.shape == (2, 3, 32, 16) and mask.shape == (2, 1, 32, 16)
    assert float(rgb.abs().max()) <= 1
    changed = style.clone()
    changed[0, :, 3, 1] += 2.0
    rgb2, mask2 = net(changed, w)
    moved = ((rgb2 - rgb).abs().amax(1) > 0) | ((mask2 - mask).abs().amax(1) > 0)  # [B, H, W]
    reach = _footprint(tiny, 3, 1)
    assert moved[0].any() and not (moved[0] & ~reach).any()
    assert not moved[1].any()  # other images of the batch are untouched (running statistics)


@torch.no_grad()
def test_pixel_constant_style_map_gives_a_constant_image(tiny):
    net = _backbone(tiny)
    style, w = _inputs(tiny)
    constant = style[:, :, :1, :1].expand_as(style).contiguous()
    for mode in (net.eval(), net.train()):
        rgb, mask = mode(constant, w)
        assert float((rgb - rgb[..., :1, :1]).abs().max()) < 1e-5
        assert float((mask - mask[..., :1, :1]).abs().max()) < 1e-5
    rgb, _ = net.eval()(style, w)
    assert float(rgb.std((2, 3)).min()) > 1e-3  # a varying style map does vary the image


@torch.no_grad()
def test_upsampling_ablation_has_spatial_kernels_and_mixes_pixels(tiny):
    flat = _backbone(tiny)
    up = _backbone(get_gan3d_config("tiny", backbone="upsampling"))

    def kernels(module):
        return {m.weight.shape[-1] for m in module.modules() if isinstance(m, (nn.Conv2d, ModulatedConv2d))}

    assert kernels(flat) == {1} and 3 in kernels(up)
    assert sum(up.upsample_before) == 2 and not any(flat.upsample_before)
    style, w = _inputs(tiny)
    rgb, _ = up(style, w)
    assert rgb.shape == (2, 3, 32, 16)
    changed = style.clone()
    changed[0, :, 3, 1] += 2.0
    moved = (up(changed, w)[0] - rgb).abs().amax(1)[0] > 1e-6
    assert (moved & ~_footprint(tiny, 3, 1)).any()  # 3x3 kernels reach beyond the bilinear footprint


def test_norm_switch_changes_the_spade_normalisation(tiny):
    batch = GeneratorBackbone(tiny)
    inst = GeneratorBackbone(get_gan3d_config("tiny", norm="instance"))
    norms = lambda m: [type(s.norm) for s in m.modules() if isinstance(s, SPADE)]  # noqa: E731
    assert norms(batch) == [nn.BatchNorm2d] * tiny.spade_layers
    assert norms(inst) == [nn.InstanceNorm2d] * tiny.spade_layers
    assert all(not s.norm.affine for s in batch.spades) and all(not s.norm.affine for s in inst.spades)
    # Instance statistics are per image: one changed style pixel moves pixels far from it.
    inst.eval()
    style, w = _inputs(tiny)
    changed = style.clone()
    changed[0, :, 3, 1] += 2.0
    with torch.no_grad():
        moved = (inst(changed, w)[0] - inst(style, w)[0]).abs().amax(1)[0] > 1e-6
    assert (moved & ~_footprint(tiny, 3, 1)).any()


@pytest.mark.parametrize("kernel", [1, 3])
def test_modulated_conv_equals_the_per_sample_weight_form(kernel):
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 4, w_dim=6, kernel=kernel)
    with torch.no_grad():
        conv.bias.normal_()
    x, w = torch.randn(2, 5, 7, 6), torch.randn(2, 6)
    s = conv.affine(w)
    weight = conv.weight / (5 * kernel * kernel) ** 0.5
    expected = []
    for b in range(2):
        wb = weight * s[b][None, :, None, None]
        wb = wb * torch.rsqrt(wb.square().sum((1, 2, 3), keepdim=True) + 1e-8)
        expected.append(F.conv2d(x[b:b + 1], wb, padding=kernel // 2) + conv.bias[None, :, None, None])
    assert torch.allclose(conv(x, w), torch.cat(expected), atol=1e-5)
    # Demodulation: scaling the style leaves the output unchanged.
    with torch.no_grad():
        conv.affine.weight.mul_(3)
        conv.affine.bias.mul_(3)
    assert torch.allclose(conv(x, w), torch.cat(expected), atol=1e-5)


def test_mapping_tracks_mean_w_and_truncates_toward_it():
    torch.manual_seed(0)
    mapping = AppearanceMapping(8, 6, layers=2, w_avg_beta=0.5)
    z = torch.randn(16, 8)
    assert torch.equal(mapping.w_avg, torch.zeros(6))
    w = mapping.train()(z)
    assert torch.allclose(mapping.w_avg, 0.5 * w.detach().mean(0))
    before = mapping.w_avg.clone()
    mapping.eval()
    w = mapping(z)
    assert torch.equal(mapping.w_avg, before)  # eval does not update it
    assert torch.allclose(mapping(z, truncation=0.0), before.expand(16, 6))
    assert torch.allclose(mapping(z, truncation=0.5), before + 0.5 * (w - before), atol=1e-6)
    assert torch.allclose(mapping(2 * z), w, atol=1e-5)  # z is normalised


@torch.no_grad()
def test_first_spade_layer_sees_a_varying_input(tiny):
    """Batch norm of a constant is 0 / 0: the backbone's input must vary with the style map."""
    net = _backbone(tiny)
    style, _ = _inputs(tiny)
    up = F.interpolate(style, size=(32, 16), mode="bilinear", align_corners=False)
    pre = net.spade_convs[0](net.input(up))
    assert float(pre.var((0, 2, 3)).min()) > 1e-4
