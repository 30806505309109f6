"""PSNR, SSIM, mask IoU, normal and depth errors against closed forms and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from humanmv.eval.image_metrics import (
    SSIM_K1,
    SSIM_K2,
    depth_error,
    gaussian_window,
    mask_iou,
    normal_angle_map,
    normal_angular_error,
    psnr,
    ssim,
    ssim_map,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_identical_images_psnr_inf_ssim_one() -> None:
    x = torch.rand(2, 3, 40, 50, generator=_gen())
    assert torch.isinf(psnr(x, x)).all() and (psnr(x, x) > 0).all()
    s = ssim(x, x)
    assert s.shape == (2,) and torch.allclose(s, torch.ones(2), atol=1e-7)


def test_psnr_of_gaussian_noise_matches_sigma() -> None:
    sigma = 0.05
    g = _gen(1)
    target = 0.35 + 0.3 * torch.rand(2, 3, 512, 512, generator=g)  # in [0.35, 0.65]
    noisy = target + sigma * torch.randn(target.shape, generator=g)
    assert noisy.min() > 0 and noisy.max() < 1, "no clamping needed"
    expected = 20 * math.log10(1 / sigma)
    got = psnr(noisy, target)
    assert got.dtype == torch.float32 and got.shape == (2,)
    assert torch.all((got - expected).abs() < 0.1), (got, expected)
    # data_range scales: the same images in [0, 255]
    assert torch.allclose(psnr(noisy * 255, target * 255, data_range=255.0), got, atol=1e-3)


def test_masked_psnr_ignores_pixels_outside_the_mask() -> None:
    g = _gen(2)
    target = torch.rand(1, 3, 32, 32, generator=g)
    pred = target.clone()
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[..., 8:24, 8:24] = True
    pred[..., :4, :] = 1 - pred[..., :4, :]  # damage outside the mask only
    assert torch.isinf(psnr(pred, target, mask)).all()
    assert torch.isfinite(psnr(pred, target)).all()
    # error inside: masked PSNR equals PSNR of the crop; (B, H, W) float masks work the same
    pred[..., 10:20, 10:20] += 0.1
    crop = psnr(pred[..., 8:24, 8:24], target[..., 8:24, 8:24])
    assert torch.allclose(psnr(pred, target, mask), crop, atol=1e-4)
    assert torch.allclose(psnr(pred, target, mask[:, 0].float()), crop, atol=1e-4)
    assert torch.isnan(psnr(pred, target, torch.zeros(1, 32, 32))).all(), "empty mask -> NaN"


def test_ssim_of_constant_images_is_the_closed_form() -> None:
    a, b = 0.3, 0.6
    x = torch.full((1, 3, 16, 16), a)
    y = torch.full((1, 3, 16, 16), b)
    c1 = SSIM_K1**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # variances and covariance are 0
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-6)


def _brute_force_ssim_map(x: np.ndarray, y: np.ndarray, win: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Per window, per channel, with explicit 2-D Gaussian weights: (C, H-win+1, W-win+1)."""
    r = np.arange(win) - (win - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    w2 = np.outer(g, g)
    w2 /= w2.sum()
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ch, h, w = x.shape
    out = np.zeros((ch, h - win + 1, w - win + 1))
    for c in range(ch):
        for i in range(h - win + 1):
            for j in range(w - win + 1):
                px, py = x[c, i : i + win, j : j + win], y[c, i : i + win, j : j + win]
                mx, my = (w2 * px).sum(), (w2 * py).sum()
                vx = (w2 * (px - mx) ** 2).sum()
                vy = (w2 * (py - my) ** 2).sum()
                cxy = (w2 * (px - mx) * (py - my)).sum()
                out[c, i, j] = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return out


def test_ssim_map_matches_brute_force_windows() -> None:
    g = _gen(3)
    x = torch.rand(1, 2, 16, 14, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = _brute_force_ssim_map(x[0].numpy(), y[0].numpy())
    got = ssim_map(x, y)
    assert got.shape == (1, 2, 6, 4)
    np.testing.assert_allclose(got[0].numpy(), ref, atol=1e-10)
    assert ssim(x, y).item() == pytest.approx(ref.mean(), abs=1e-6)
    assert gaussian_window().sum().item() == pytest.approx(1.0)


def test_ssim_agrees_with_kornia_valid_mode() -> None:
    import kornia  # a test dependency: an independent SSIM to agree with
    g = _gen(4)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ref = kornia.metrics.ssim(x, y, 11, padding="valid")
    assert torch.allclose(ssim_map(x, y).float(), ref, atol=1e-4)


def test_masked_ssim_uses_window_centres_inside_the_mask() -> None:
    g = _gen(5)
    target = torch.rand(1, 3, 48, 48, generator=g)
    pred = target.clone()
    pred[..., :, 40:] = torch.rand(1, 3, 48, 8, generator=g)  # damage at columns >= 40
    mask = torch.zeros(1, 48, 48)
    mask[:, 5:43, 5:25] = 1.0  # centres at columns < 25: their windows reach column 29 at most
    assert ssim(pred, target, mask).item() == pytest.approx(1.0, abs=1e-7)
    assert ssim(pred, target).item() < 0.95
    # general case: mean of the channel-averaged map over the mask's centres
    pred2 = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    smap = ssim_map(pred2, target).mean(dim=1)[0]
    m = mask[0, 5:43, 5:43] > 0.5
    assert ssim(pred2, target, mask).item() == pytest.approx(smap[m].mean().item(), abs=1e-6)


def test_mask_iou() -> None:
    a = torch.zeros(2, 1, 20, 20, dtype=torch.bool)
    b = torch.zeros(2, 1, 20, 20, dtype=torch.bool)
    a[0, :, 0:10, 0:10] = True
    b[0, :, 0:10, 5:15] = True  # overlap 50, union 150
    iou = mask_iou(a, b)
    assert iou[0].item() == pytest.approx(1 / 3) and iou[1].item() == 1.0, "both empty -> 1"
    assert mask_iou(a[:, 0].float(), a[:, 0].float())[0].item() == 1.0


def _rot_y(deg: float) -> torch.Tensor:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)


def test_normal_error_of_a_known_rotation() -> None:
    g = _gen(6)
    phi = torch.rand(1, 16, 16, generator=g, dtype=torch.float64) * 2 * math.pi
    n = torch.stack([torch.cos(phi), torch.zeros_like(phi), torch.sin(phi)], dim=1)  # in the xz plane
    rot = torch.einsum("ij,bjhw->bihw", _rot_y(25.0), n)
    err = normal_angular_error(rot, n)
    assert err.mean.item() == pytest.approx(25.0, abs=1e-4)
    assert err.median.item() == pytest.approx(25.0, abs=1e-4)
    assert err.within_11_25.item() == 0 and err.within_30.item() == 1.0 and err.count.item() == 256
    # PNG encoding (n + 1) / 2 gives the same angles
    rgb = normal_angular_error((rot + 1) / 2, (n + 1) / 2, encoding="rgb")
    assert rgb.mean.item() == pytest.approx(25.0, abs=1e-4)


def test_normal_error_inside_the_mask_and_background() -> None:
    n = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    n[:, 2] = 1.0  # facing the camera
    pred = n.clone()
    pred[..., :4, :] = torch.einsum("ij,bjhw->bihw", _rot_y(10.0), n[..., :4, :])
    pred[..., 4:, :] = torch.einsum("ij,bjhw->bihw", _rot_y(40.0), n[..., 4:, :])
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., :4, :] = True
    err = normal_angular_error(pred, n, mask)
    assert err.mean.item() == pytest.approx(10.0, abs=1e-4) and err.count.item() == 32
    assert err.within_11_25.item() == 1.0
    full = normal_angular_error(pred, n)
    assert full.mean.item() == pytest.approx(25.0, abs=1e-4)
    assert full.median.item() == pytest.approx(25.0, abs=1e-4), "even count: mean of 10 and 40"
    # zero vectors (float-map background) are not valid pixels
    pred[..., 0, 0] = 0.0
    assert torch.isnan(normal_angle_map(pred, n)[0, 0, 0])
    assert normal_angular_error(pred, n).count.item() == 63
    with pytest.raises(ValueError, match="encoding"):
        normal_angular_error(pred, n, encoding="bgr")


def test_depth_error_inside_the_mask() -> None:
    g = _gen(7)
    target = 1.0 + torch.rand(2, 1, 16, 16, generator=g)
    pred = target * 1.1
    pred[:, :, :, 8:] = 100.0  # garbage outside the mask
    target[:, :, 0, 0] = 0.0  # invalid ground truth
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[:, :, :8] = True
    err = depth_error(pred, target, mask)
    valid = mask[:, None] & (target > 0)
    assert err.count.tolist() == [127, 127]
    assert torch.allclose(err.rel, torch.full((2,), 0.1), atol=1e-6)
    exp_abs = torch.stack([(0.1 * target[i][valid[i]]).mean() for i in range(2)])
    assert torch.allclose(err.abs, exp_abs, atol=1e-6)
    exp_rmse = torch.stack([(0.1 * target[i][valid[i]]).pow(2).mean().sqrt() for i in range(2)])
    assert torch.allclose(err.rmse, exp_rmse, atol=1e-6)
    same = depth_error(target[:, 0], target[:, 0])
    assert (same.abs == 0).all() and (same.rel == 0).all()
    assert torch.isnan(depth_error(pred, target, torch.zeros(2, 16, 16)).abs).all()


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="odd"):
        ssim(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), window=10)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="mask"):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
