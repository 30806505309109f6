"""Fréchet distance and nearest-training distance on ST-LPIPS features: zero for a set against
itself or a copied image, small between halves of one distribution, large across two."""

from __future__ import annotations

import pytest
import torch

from humanmv.eval.feature_distances import frechet_lpips_distance, lpips_features, nearest_training_distance
from humanmv.eval.stlpips_weights import load_stlpips


@pytest.fixture(scope="module")
def alex():
    return load_stlpips("alex")


def _blobs(n: int, seed: int, sharp: bool) -> torch.Tensor:
    """n images [n, 3, 64, 32]: smooth colour blobs, or the same with pixel noise on top."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 2, generator=g)
    images = torch.nn.functional.interpolate(low, size=(64, 32), mode="bilinear", align_corners=False)
    if sharp:
        images = images + 0.4 * (torch.rand(n, 3, 64, 32, generator=g) - 0.5)
    return images.clamp(0, 1)


def test_features_are_pooled_unit_taps(alex):
    features = lpips_features(alex, _blobs(5, 0, False), batch_size=2)
    assert features.shape == (5, 64 + 192 + 384 + 256 + 256)
    norms = torch.stack([chunk.norm(dim=1) for chunk in features.split(list(alex.channels), dim=1)])
    assert (norms <= 1 + 1e-4).all() and (norms > 0.05).all()
    assert torch.allclose(features[:2], lpips_features(alex, _blobs(5, 0, False)[:2]), atol=1e-5)


def test_frechet_separates_distributions(alex):
    smooth_a, smooth_b, noisy = _blobs(40, 1, False), _blobs(40, 2, False), _blobs(40, 3, True)
    assert frechet_lpips_distance(alex, smooth_a, smooth_a) == pytest.approx(0.0, abs=1e-6)
    same = frechet_lpips_distance(alex, smooth_a, smooth_b)
    apart = frechet_lpips_distance(alex, smooth_a, noisy)
    assert apart > 3 * same > 0


def test_nearest_training_distance_finds_a_copy(alex):
    bank = _blobs(30, 4, False)
    queries = torch.cat([bank[[7]], _blobs(2, 5, False)])
    distances, index = nearest_training_distance(alex, queries, bank, candidates=4)
    assert int(index[0]) == 7 and float(distances[0]) == pytest.approx(0.0, abs=1e-6)
    assert (distances[1:] > 0.01).all()
    # The feature pre-ranking gives an upper bound, close to an exhaustive search's minimum.
    exhaustive, _ = nearest_training_distance(alex, queries, bank, candidates=30)
    assert (exhaustive <= distances + 1e-6).all() and (distances <= 1.1 * exhaustive + 1e-6).all()
