"""3D pose accuracy of a fit against ground truth, and the paired interval acceptance checks use.

Both joint errors compare (K, 3) keypoints in each body's own camera frame (the fitted body in
the fitted camera, the true one in the true camera), so a limb pointing the wrong way in depth
counts, while what one photo cannot know — the absolute distance and size — does not:

- `scaled_mpjpe`: both centred on their root (the hip midpoint), the prediction scaled by the
  least-squares factor; the mean joint distance. A wrong global rotation still counts.
- `procrustes_mpjpe` (PA-MPJPE): the prediction aligned by the best similarity transform
  (rotation, scale, translation; Umeyama 1991); the error left is the pose's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _check(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    assert pred.shape == true.shape and pred.ndim == 2 and pred.shape[1] == 3, (pred.shape, true.shape)
    return pred, true


def scaled_mpjpe(pred: np.ndarray, true: np.ndarray, root: np.ndarray) -> float:
    """Mean joint error (in true's units) after root centring and a least-squares scale.
    pred, true: (K, 3); root: indices whose mean is the root (e.g. both hips)."""
    pred, true = _check(pred, true)
    p = pred - pred[root].mean(0)
    t = true - true[root].mean(0)
    scale = float((p * t).sum() / max((p * p).sum(), 1e-12))
    return float(np.linalg.norm(scale * p - t, axis=1).mean())


def procrustes_mpjpe(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean joint error after the best similarity transform of pred onto true (K, 3)."""
    pred, true = _check(pred, true)
    mp, mt = pred.mean(0), true.mean(0)
    p, t = pred - mp, true - mt
    U, S, Vt = np.linalg.svd(t.T @ p)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    scale = float(np.trace(np.diag(S) @ D) / max((p * p).sum(), 1e-12))
    aligned = scale * p @ R.T + mt
    return float(np.linalg.norm(aligned - true, axis=1).mean())


@dataclass
class PairedInterval:
    """mean difference (b - a) over subjects and its 95% t-interval; `excludes_zero` is what
    "beats", "drops" and "rises" mean in an acceptance list."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, digits: int = 3) -> str:
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] (n={self.n})"


def paired_interval(a: np.ndarray, b: np.ndarray) -> PairedInterval:
    """95% interval of the mean of b - a over paired subjects (Student's t)."""
    from scipy import stats

    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    n = len(d)
    if n < 2:
        return PairedInterval(float(d.mean()) if n else math.nan, -math.inf, math.inf, n)
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
    m = float(d.mean())
    return PairedInterval(m, m - half, m + half, n)
