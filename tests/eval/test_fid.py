"""Fréchet distance, KID and the Inception-v3 feature network (random weights, real layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from humanmv.errors import CheckpointError
from humanmv.eval.fid import (
    InceptionV3Features,
    feature_statistics,
    fid_from_features,
    frechet_distance,
    inception_features,
    kid,
    load_inception,
)
from humanmv.eval.fid import _mmd2_unbiased  # noqa: PLC2701 - checked against a brute-force sum


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 2.0, 6), rng.uniform(0.1, 2.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_full_covariances_matches_the_symmetric_form() -> None:
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(8), m2 @ m2.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    # Tr((S1 S2)^1/2) = sum of sqrt(eigenvalues of S1^1/2 S2 S1^1/2), a symmetric PSD matrix
    w, v = scipy.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_sqrt = np.sum(np.sqrt(np.clip(scipy.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_from_features_identical_sets_and_a_known_shift() -> None:
    rng = np.random.default_rng(2)
    f = rng.normal(size=(300, 16))
    assert abs(fid_from_features(f, f)) < 1e-8
    # fewer samples than dimensions: singular covariances, still finite and ~0 for the same set
    few = rng.normal(size=(20, 64))
    assert abs(fid_from_features(few, few)) < 1e-3
    assert np.isfinite(fid_from_features(few, rng.normal(size=(20, 64))))
    # a shifted copy: same covariance, so FID = |m|^2 exactly
    m = np.array([1.0, 2.0, 0.0, 0.0])
    a = rng.normal(size=(5000, 4))
    assert fid_from_features(torch.from_numpy(a), a + m) == pytest.approx(5.0, rel=1e-9)
    # independent samples of N(0, I) and N(m, 4 I): FID ~ |m|^2 + 4 * (1 + 4 - 2 * 2) = 9
    b = 2.0 * rng.normal(size=(20000, 4)) + m
    assert fid_from_features(a, b) == pytest.approx(9.0, abs=0.3)
    mu, sigma = feature_statistics(a)
    assert mu.shape == (4,) and sigma.shape == (4, 4)


def test_mmd_matches_a_brute_force_sum() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)) + 0.3

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    yy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(4)) / 20
    assert _mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_is_zero_for_one_distribution_and_positive_for_a_shift() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    same, same_std = kid(x, y, num_subsets=30, subset_size=200)
    shifted, _ = kid(x, y + 0.5, num_subsets=30, subset_size=200)
    assert abs(same) < 0.02 and same_std < 0.02
    assert shifted > 0.5
    assert kid(x, y, num_subsets=5, seed=1) == kid(x, y, num_subsets=5, seed=1), "seeded"
    with pytest.raises(ValueError, match="at least 2"):
        kid(x[:1], y)


@pytest.fixture(scope="module")
def inception() -> InceptionV3Features:
    torch.manual_seed(0)
    model = InceptionV3Features("fid")
    for m in model.modules():  # non-trivial BatchNorm statistics, so a key mix-up shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def test_inception_layout_and_output(inception: InceptionV3Features) -> None:
    sd = inception.state_dict()
    # torchvision's inception_v3 has 27,161,264 parameters; less fc (2,049,000) and AuxLogits
    # (3,326,696) leaves the feature trunk's 21,785,568
    assert sum(p.numel() for p in inception.parameters()) == 21_785_568
    assert tuple(sd["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert tuple(sd["Mixed_5b.branch_pool.conv.weight"].shape) == (32, 192, 1, 1)
    assert tuple(sd["Mixed_6e.branch7x7dbl_5.conv.weight"].shape) == (192, 192, 1, 7)
    assert tuple(sd["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape) == (384,)
    images = torch.rand(2, 3, 120, 100, generator=torch.Generator().manual_seed(1))
    feats = inception_features(inception, images)
    assert feats.shape == (2, 2048) and feats.dtype == torch.float32 and torch.isfinite(feats).all()


def test_inception_round_trip_and_variants(inception: InceptionV3Features, tmp_path: Path) -> None:
    images = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = inception(images)
    state = inception.state_dict()
    # as in pytorch-fid's file: a 1008-class fc; torchvision's adds AuxLogits, 1000 classes
    fid_file = tmp_path / "pt_inception.safetensors"
    save_file({**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, fid_file)
    loaded = load_inception(fid_file)
    assert loaded.variant == "fid"
    with torch.no_grad():
        assert torch.equal(loaded(images), ref)
    tv_file = tmp_path / "inception_v3_google.pth"
    extra = {"fc.weight": torch.zeros(1000, 2048), "AuxLogits.fc.weight": torch.zeros(1000, 768)}
    torch.save({**state, **extra}, tv_file)
    tv = load_inception(tv_file)
    assert tv.variant == "torchvision"
    with torch.no_grad():
        assert not torch.allclose(tv(images), ref), "the FID graph pools differently"


def test_inception_bad_files_name_the_key(inception: InceptionV3Features, tmp_path: Path) -> None:
    state = {k: v.clone() for k, v in inception.state_dict().items()}
    missing = dict(state)
    del missing["Mixed_6b.branch7x7_2.conv.weight"]
    path = tmp_path / "missing.safetensors"
    save_file(missing, path)
    with pytest.raises(CheckpointError, match=r"missing\.safetensors.*'Mixed_6b\.branch7x7_2\.conv\.weight'"):
        load_inception(path)
    wrong = dict(state)
    wrong["Conv2d_4a_3x3.bn.weight"] = torch.zeros(7)
    path = tmp_path / "wrong.safetensors"
    save_file(wrong, path)
    msg = r"wrong\.safetensors.*'Conv2d_4a_3x3\.bn\.weight' has shape \(7\), expected \(192\)"
    with pytest.raises(CheckpointError, match=msg):
        load_inception(path)


def test_fewer_samples_than_dimensions_take_the_exact_small_path():
    """With N1 + N2 < D, FID comes from an N1 x N2 SVD; it equals the matrix-square-root
    formula on the same features."""
    import numpy as np

    from humanmv.eval.fid import feature_statistics, fid_from_features, frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 100)), rng.normal(size=(40, 100)) * 1.3 + 0.2
    fast = fid_from_features(a, b)
    slow = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert abs(fast - slow) < 1e-6 * slow
    assert abs(fid_from_features(a, a)) < 1e-9
