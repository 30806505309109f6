"""Per-image metrics on tensors: PSNR, SSIM, mask IoU, normal angular error, depth error.

Shapes and conventions (every function returns one value per image, a `(B,)` tensor):
- images: `(B, C, H, W)` float in [0, data_range] (humanmv's images: C = 3, data_range = 1).
- masks:  `(B, 1, H, W)` or `(B, H, W)`, bool or float; float masks are thresholded at 0.5.
  "Inside the mask" means the pixels where the mask is set; the metric ignores the others.
- normals: `(B, 3, H, W)`, see `normal_angular_error` for the two encodings.
- depths: `(B, 1, H, W)` or `(B, H, W)`, any unit; pixels with target depth <= 0 or non-finite
  depth are invalid (background).

Computation is in float64, results are float32. A per-image value with nothing to average over
(an empty mask) is NaN: aggregate with `nanmean` and report the count (`DepthErrors.count`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _check_pair(pred: Tensor, target: Tensor, name: str = "images") -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.dim() != 4:
        raise ValueError(f"{name}: expected (B, C, H, W), got {tuple(pred.shape)}")


def as_mask(mask: Tensor, batch: int, height: int, width: int) -> Tensor:
    """`(B, 1, H, W)` or `(B, H, W)` bool/float mask -> `(B, 1, H, W)` bool (float > 0.5)."""
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask: expected (B, 1, H, W) or (B, H, W), got {tuple(mask.shape)}")
    if tuple(mask.shape) != (batch, 1, height, width):
        raise ValueError(
            f"mask shape {tuple(mask.shape)} does not match images ({batch}, ., {height}, {width})"
        )
    return mask if mask.dtype == torch.bool else mask > 0.5


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, NaN where den == 0."""
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, math.nan))


# --- PSNR -----------------------------------------------------------------------------------


def mse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error per image, `(B,)` float64; over all channels of the pixels in `mask`."""
    _check_pair(pred, target)
    se = (pred.double() - target.double()) ** 2
    if mask is None:
        return se.mean(dim=(1, 2, 3))
    b, c, h, w = pred.shape
    m = as_mask(mask, b, h, w)
    return _safe_div((se * m).sum(dim=(1, 2, 3)), m.sum(dim=(1, 2, 3)).double() * c)


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB, `(B,)` float32.

    pred, target: (B, C, H, W) in [0, data_range].
    mask:         optional (B, 1, H, W) / (B, H, W): only pixels inside it count.
    Identical images (inside the mask) give +inf; an empty mask gives NaN.
    """
    err = mse(pred, target, mask)
    return (10.0 * torch.log10(data_range**2 / err)).float()  # err == 0 -> inf


# --- SSIM -----------------------------------------------------------------------------------


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """1-D Gaussian weights, `(size,)` float64, summing to 1 (the 2-D window is its outer product)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter(x: Tensor, g: Tensor) -> Tensor:
    """Separable 'valid' Gaussian filter of (B, C, H, W) -> (B, C, H - k + 1, W - k + 1)."""
    c = x.shape[1]
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim_map(
    pred: Tensor,
    target: Tensor,
    data_range: float = 1.0,
    window: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
) -> Tensor:
    """Local SSIM (Wang et al. 2004), `(B, C, H - window + 1, W - window + 1)` float64.

    Each value is SSIM of the window centred on pixel (y + r, x + r), r = window // 2, with
    Gaussian-weighted means/variances/covariance (the weighted variance, no N/(N-1) correction)
    and C1 = (k1 L)^2, C2 = (k2 L)^2, L = data_range. Windows lie fully inside the image
    ('valid' filtering, as the authors' reference code; no padding, no downsampling).
    """
    _check_pair(pred, target)
    if window % 2 == 0:
        raise ValueError(f"SSIM window must be odd, got {window}")
    if min(pred.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window}, got {tuple(pred.shape[-2:])}")
    x, y = pred.double(), target.double()
    g = gaussian_window(window, sigma).to(x.device)
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    var_x = _filter(x * x, g) - mu_x**2
    var_y = _filter(y * y, g) - mu_y**2
    cov = _filter(x * y, g) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return num / den


def ssim(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    data_range: float = 1.0,
    window: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
) -> Tensor:
    """Structural similarity per image, `(B,)` float32: the mean of `ssim_map` over channels
    and window positions.

    mask: optional (B, 1, H, W) / (B, H, W); then the mean is over the windows whose *centre*
          pixel is inside the mask (the map cropped like the image's valid region). Windows near
          the mask's edge still see some pixels outside it, as in the usual masked SSIM.
    Identical images give exactly 1; an empty mask gives NaN.
    """
    smap = ssim_map(pred, target, data_range, window, sigma).mean(dim=1, keepdim=True)
    if mask is None:
        return smap.mean(dim=(1, 2, 3)).float()
    b, _, h, w = pred.shape
    r = window // 2
    m = as_mask(mask, b, h, w)[:, :, r : h - r, r : w - r]
    return _safe_div((smap * m).sum(dim=(1, 2, 3)), m.sum(dim=(1, 2, 3)).double()).float()


# --- masks ----------------------------------------------------------------------------------


def mask_iou(pred_mask: Tensor, target_mask: Tensor) -> Tensor:
    """Intersection over union of two masks per image, `(B,)` float32.

    pred_mask, target_mask: (B, 1, H, W) or (B, H, W), bool or float (thresholded at 0.5).
    Two empty masks agree perfectly: IoU 1.
    """
    if pred_mask.shape != target_mask.shape:
        raise ValueError(f"masks: shapes differ, {tuple(pred_mask.shape)} vs {tuple(target_mask.shape)}")
    b, h, w = pred_mask.shape[0], pred_mask.shape[-2], pred_mask.shape[-1]
    p, t = as_mask(pred_mask, b, h, w), as_mask(target_mask, b, h, w)
    inter = (p & t).sum(dim=(1, 2, 3)).double()
    union = (p | t).sum(dim=(1, 2, 3)).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).float()


# --- normals --------------------------------------------------------------------------------


@dataclass
class AngularErrors:
    """Normal angular errors inside the mask, per image (each `(B,)`; NaN where count == 0).

    mean, median: degrees.
    within_11_25, within_22_5, within_30: fraction of valid pixels with error below that many
        degrees (the usual normal-estimation accuracy thresholds).
    count: (B,) int64, number of valid pixels (inside the mask, both normals non-zero).
    """

    mean: Tensor
    median: Tensor
    within_11_25: Tensor
    within_22_5: Tensor
    within_30: Tensor
    count: Tensor


def _decode_normals(n: Tensor, encoding: str) -> Tensor:
    if encoding == "unit":
        return n.double()
    if encoding == "rgb":
        return n.double() * 2.0 - 1.0
    raise ValueError(f"normal encoding must be 'unit' or 'rgb', got {encoding!r}")


def normal_angle_map(pred: Tensor, target: Tensor, encoding: str = "unit") -> Tensor:
    """Angle between two normal maps per pixel in degrees, `(B, H, W)` float64.

    pred, target: (B, 3, H, W) normals in the same frame (humanmv's are camera space).
    encoding: "unit"  - vectors with components in [-1, 1] (need not be exactly unit length);
              "rgb"   - the PNG encoding (n + 1) / 2 with components in [0, 1].
    Vectors are normalised here; pixels where either vector is (near) zero - the background of
    a float normal map - are NaN. Computed as atan2(|a x b|, a . b), exact near 0 and 180 deg.
    """
    _check_pair(pred, target, "normals")
    if pred.shape[1] != 3:
        raise ValueError(f"normals: expected 3 channels, got {pred.shape[1]}")
    a, b = _decode_normals(pred, encoding), _decode_normals(target, encoding)
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cross = torch.linalg.cross(a, b, dim=1).norm(dim=1)
    dot = (a * b).sum(dim=1)
    ang = torch.rad2deg(torch.atan2(cross, dot))
    valid = (na > 1e-6) & (nb > 1e-6)
    return torch.where(valid, ang, torch.full_like(ang, math.nan))


def _median(values: Tensor) -> Tensor:
    """Median of a 1-D tensor (mean of the two middle values when the count is even); NaN if empty."""
    n = values.numel()
    if n == 0:
        return torch.tensor(math.nan, dtype=torch.float64)
    s = values.sort().values
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def normal_angular_error(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, encoding: str = "unit"
) -> AngularErrors:
    """Angular error of predicted normals, mean / median / accuracy inside the mask.

    pred, target: (B, 3, H, W), both in `encoding` ("unit": components in [-1, 1]; "rgb":
                  (n + 1) / 2 in [0, 1]); see `normal_angle_map`.
    mask:         optional (B, 1, H, W) / (B, H, W); pixels outside it are ignored, and so are
                  pixels where either normal is zero.
    """
    ang = normal_angle_map(pred, target, encoding)
    b, _, h, w = pred.shape
    valid = ~torch.isnan(ang)
    if mask is not None:
        valid &= as_mask(mask, b, h, w)[:, 0]
    rows: list[list[Tensor]] = []
    for i in range(b):
        v = ang[i][valid[i]]
        if v.numel() == 0:
            nan = torch.tensor(math.nan, dtype=torch.float64)
            rows.append([nan, nan, nan, nan, nan])
            continue
        within = [(v < t).double().mean() for t in (11.25, 22.5, 30.0)]
        rows.append([v.mean(), _median(v), *within])
    cols = [torch.stack([r[k] for r in rows]).float() for k in range(5)]
    return AngularErrors(*cols, count=valid.sum(dim=(1, 2)))


# --- depth ----------------------------------------------------------------------------------


@dataclass
class DepthErrors:
    """Depth errors over the valid pixels, per image (each `(B,)`; NaN where count == 0).

    abs:  mean |pred - target|, in the depths' unit.
    rel:  mean |pred - target| / target (absolute relative error).
    rmse: sqrt(mean (pred - target)^2), in the depths' unit.
    count: (B,) int64, valid pixels: inside the mask, target > 0 and both finite.
    """

    abs: Tensor
    rel: Tensor
    rmse: Tensor
    count: Tensor


def depth_error(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> DepthErrors:
    """Absolute / relative / RMS depth error inside the mask.

    pred, target: (B, 1, H, W) or (B, H, W) depths in the same unit (no scale alignment).
    mask:         optional (B, 1, H, W) / (B, H, W); pixels outside it are ignored.
    """
    if pred.dim() == 3:
        pred = pred[:, None]
    if target.dim() == 3:
        target = target[:, None]
    _check_pair(pred, target, "depths")
    if pred.shape[1] != 1:
        raise ValueError(f"depths: expected 1 channel, got {pred.shape[1]}")
    p, t = pred.double(), target.double()
    b, _, h, w = p.shape
    valid = torch.isfinite(p) & torch.isfinite(t) & (t > 0)
    if mask is not None:
        valid &= as_mask(mask, b, h, w)
    diff = torch.where(valid, p - t, torch.zeros_like(p))
    n = valid.sum(dim=(1, 2, 3))
    nd = n.double()
    abs_err = _safe_div(diff.abs().sum(dim=(1, 2, 3)), nd)
    rel = _safe_div((diff.abs() / torch.where(valid, t, torch.ones_like(t))).sum(dim=(1, 2, 3)), nd)
    rmse = _safe_div((diff**2).sum(dim=(1, 2, 3)), nd).sqrt()
    return DepthErrors(abs=abs_err.float(), rel=rel.float(), rmse=rmse.float(), count=n)
