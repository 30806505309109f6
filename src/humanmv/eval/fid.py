"""FID and KID between two sets of images, from Inception-v3 pool3 features.

- FID (Heusel et al. 2017): fit a Gaussian (mean, covariance) to each feature set and take the
  Fréchet distance  |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
- KID (Binkowski et al. 2018): the unbiased squared MMD with the polynomial kernel
  k(x, y) = (x . y / d + 1)^3, averaged over random subsets; unlike FID it is unbiased for
  small sets (FID needs thousands of images to be stable, KID is usable with ~100).

The network is `humanmv.eval.inception` (`load_inception(path)` reads the user's weight file;
re-exported here). Feature statistics are float64 numpy.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
from torch import Tensor

from humanmv.eval.inception import (
    FEATURE_DIM,
    InceptionV3Features,
    inception_features,
    load_inception,
)

LOG = logging.getLogger("humanmv")

__all__ = [
    "FEATURE_DIM",
    "InceptionV3Features",
    "feature_statistics",
    "fid_from_features",
    "fid_from_images",
    "frechet_distance",
    "inception_features",
    "kid",
    "load_inception",
]


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, np.float64)


def feature_statistics(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(D,)` and covariance `(D, D)` (unbiased, N - 1) of features `(N, D)`, N >= 2."""
    f = _np(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature statistics need (N >= 2, D) features, got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: (D,); sigma1, sigma2: (D, D) symmetric positive semi-definite.
    The matrix square root is `scipy.linalg.sqrtm(sigma1 @ sigma2)`. When it is not finite
    (near-singular covariances, e.g. fewer samples than dimensions) both covariances get
    `eps * I` added and it is recomputed; a small imaginary part from round-off is dropped
    (a large one is logged as a warning, as it means the covariances are badly conditioned).
    """
    mu1, mu2 = np.atleast_1d(_np(mu1)), np.atleast_1d(_np(mu2))
    s1, s2 = np.atleast_2d(_np(sigma1)), np.atleast_2d(_np(sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        LOG.info("FID: singular product of covariances, adding %g to the diagonals", eps)
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(np.diagonal(covmean).imag))) if covmean.size else 0.0
        if imag > 1e-3:
            LOG.warning("FID: the covariance square root has an imaginary part of %.3g, dropped", imag)
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid_from_features(features1: Tensor | np.ndarray, features2: Tensor | np.ndarray) -> float:
    """FID between two feature sets `(N1, D)` and `(N2, D)`.

    With fewer samples than dimensions (a bench: tens of views, 2048 Inception features) the
    covariances are A^T A / (N1 - 1) and B^T B / (N2 - 1) of the centred features, and
    tr sqrt(S1 S2) is exactly the nuclear norm of A B^T over sqrt((N1 - 1)(N2 - 1)): an
    N1 x N2 SVD instead of a 2048 x 2048 matrix square root (seconds -> milliseconds)."""
    a, b = _np(features1).astype(np.float64), _np(features2).astype(np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"FID needs (N >= 2, D) feature sets of one D, got {a.shape} and {b.shape}")
    if len(a) + len(b) >= a.shape[1]:
        return frechet_distance(*feature_statistics(a), *feature_statistics(b))
    ca, cb = a - a.mean(0), b - b.mean(0)
    na, nb = len(a) - 1, len(b) - 1
    diff = a.mean(0) - b.mean(0)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    return float(diff @ diff + (ca * ca).sum() / na + (cb * cb).sum() / nb - 2.0 * cross)


def fid_from_images(
    model: InceptionV3Features, images1: Tensor, images2: Tensor, batch_size: int = 16
) -> float:
    """FID between two image sets (N, 3, H, W) in [0, 1], with a loaded Inception model."""
    return fid_from_features(
        inception_features(model, images1, batch_size), inception_features(model, images2, batch_size)
    )


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel, x (m, d), y (n, d), m, n >= 2."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = x.shape[0], y.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(
    features1: Tensor | np.ndarray,
    features2: Tensor | np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of the unbiased MMD^2 over random subsets.

    features1: (N1, D), features2: (N2, D).
    Each subset draws `min(subset_size, N1, N2)` rows from each set without replacement (a
    fresh draw per subset, seeded). Identical distributions give ~0 (it can be slightly
    negative: the estimate is unbiased); papers often report it x 1000.
    """
    x, y = _np(features1), _np(features2)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs (N1, D) and (N2, D) features, got {x.shape}, {y.shape}")
    size = min(subset_size, x.shape[0], y.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {x.shape[0]} and {y.shape[0]}")
    rng = np.random.default_rng(seed)
    vals = np.empty(num_subsets)
    for i in range(num_subsets):
        xi = x[rng.choice(x.shape[0], size, replace=False)]
        yi = y[rng.choice(y.shape[0], size, replace=False)]
        vals[i] = _mmd2_unbiased(xi, yi)
    return float(vals.mean()), float(vals.std())
