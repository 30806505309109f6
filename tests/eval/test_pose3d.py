"""PA-MPJPE, scale-aligned MPJPE and the paired interval."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from humanmv.eval.pose3d import paired_interval, procrustes_mpjpe, scaled_mpjpe

RNG = np.random.default_rng(0)
TRUE = RNG.normal(size=(23, 3))
ROOT = np.array([11, 12])


def test_procrustes_forgives_a_similarity_transform_only():
    R = Rotation.from_rotvec([0.3, -1.1, 0.5]).as_matrix()
    moved = 2.5 * TRUE @ R.T + np.array([1.0, -2.0, 3.0])
    assert procrustes_mpjpe(moved, TRUE) < 1e-9
    mirrored = TRUE * np.array([1.0, 1.0, -1.0])  # a depth flip is no rotation: it counts
    assert procrustes_mpjpe(mirrored, TRUE) > 0.1
    bent = TRUE.copy()
    bent[5] += np.array([0.0, 0.0, 0.5])
    assert 0.0 < procrustes_mpjpe(bent, TRUE) < 0.5 / 23 * 2


def test_scaled_mpjpe_forgives_scale_and_position_not_rotation():
    assert scaled_mpjpe(0.5 * TRUE + 7.0, TRUE, ROOT) < 1e-9
    R = Rotation.from_rotvec([0.0, 0.4, 0.0]).as_matrix()
    assert scaled_mpjpe(TRUE @ R.T, TRUE, ROOT) > 0.1


def test_paired_interval():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ci = paired_interval(a, a - 1.0)  # always exactly 1 lower
    assert ci.mean == -1.0 and ci.low == ci.high == -1.0 and ci.excludes_zero
    noisy = paired_interval(a, a + np.array([1.0, -1.0, 1.0, -1.0, 0.0]))
    assert noisy.low < 0 < noisy.high and not noisy.excludes_zero
    # t(0.975, 4) = 2.776: half width = 2.776 * sd / sqrt(5)
    assert abs((noisy.high - noisy.low) / 2 - 2.7764 * np.std([1, -1, 1, -1, 0], ddof=1) / 5 ** 0.5) < 1e-3
