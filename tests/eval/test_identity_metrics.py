"""Identity metrics: the maths on synthetic embeddings, and dlib on the example photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from humanmv.eval.identity_metrics import (
    IdentityScores,
    cosine,
    face_embeddings,
    identity_scores,
    identity_scores_from_embeddings,
    to_uint8_rgb,
)
from humanmv.io.images import load_image
from humanmv.perception.identity import FaceIdentifier
from humanmv.views import channels_first

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_scores_from_embeddings_closed_forms() -> None:
    inp = np.array([1.0, 0.0, 0.0])
    a = np.array([2.0, 0.0, 0.0])  # same direction, distance 1 from the input
    b = np.array([0.0, 0.5, 0.0])  # orthogonal, distance ~1.118
    c = np.array([1.0, 0.2, 0.0])  # close: distance 0.2
    s = identity_scores_from_embeddings(inp, [a, None, b, c])
    assert (s.n_views, s.n_views_with_face, s.view_has_face) == (4, 3, [True, False, True, True])
    assert s.i2oid.get() == pytest.approx((1.0 + 0.0 + cosine(inp, c)) / 3) and s.i2oid.count == 3
    pairs = [cosine(a, b), cosine(a, c), cosine(b, c)]
    assert s.o2oid.get() == pytest.approx(np.mean(pairs)) and s.o2oid.count == 3
    assert s.reid_match.get() == pytest.approx(1 / 3), "only c is within 0.6"
    assert s.reid_dist.get() == pytest.approx((1.0 + np.hypot(1, 0.5) + 0.2) / 3)
    assert s.csim.get() == pytest.approx(s.i2oid.get()), "reference = input"
    assert np.isnan(s.cos_to_input[1]) and np.isnan(s.dist_to_reference[1])


def test_scores_against_reference_views_and_unavailable_cases() -> None:
    e = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), None]
    refs = [np.array([1.0, 0.1]), None, np.array([1.0, 0.0])]
    s = identity_scores_from_embeddings(None, e, refs)
    assert s.n_reference_pairs == 1 and s.reid_match.get() == 1.0 and s.reid_match.count == 1
    assert not s.i2oid.available and "no face detected in the input photo" in s.i2oid.reason
    assert s.o2oid.get() == pytest.approx(0.0)
    none = identity_scores_from_embeddings(np.ones(2), [None, None])
    for m in none.metrics():
        assert not m.available and m.value is None
    assert "found 0 of 2" in none.o2oid.reason and "no face detected in any of the 2" in none.i2oid.reason
    assert none.to_dict()["n_views_with_face"] == 0
    with pytest.raises(ValueError, match="reference"):
        identity_scores_from_embeddings(None, e, refs[:2])


@pytest.fixture(scope="module")
def identifier() -> FaceIdentifier:
    ident = FaceIdentifier()
    yield ident
    ident.close()


@pytest.fixture(scope="module")
def photos() -> dict[str, torch.Tensor]:
    out = {}
    for name in ("astronaut", "grace_hopper"):
        rgb = load_image(EXAMPLES / f"{name}.jpg").rgb
        out[name] = channels_first(torch.from_numpy(rgb.copy())).float() / 255.0
    out["blank"] = torch.full((3, 256, 256), 0.5)
    return out


@pytest.fixture(scope="module")
def scores(identifier: FaceIdentifier, photos: dict[str, torch.Tensor]) -> IdentityScores:
    # input: the astronaut; views: the same photo, a view without a face, another person
    views = [photos["astronaut"], photos["blank"], photos["grace_hopper"]]
    return identity_scores(identifier, photos["astronaut"], views)


def test_same_photo_is_the_same_person(scores: IdentityScores) -> None:
    assert scores.input_has_face and scores.view_has_face[0]
    assert scores.cos_to_input[0] == pytest.approx(1.0, abs=1e-4)
    assert scores.dist_to_reference[0] < 1e-3


def test_a_different_person_is_not_matched(scores: IdentityScores) -> None:
    assert scores.dist_to_reference[2] > 0.6
    assert scores.cos_to_input[2] < scores.cos_to_input[0]


def test_views_without_a_face_are_excluded_and_counted(scores: IdentityScores) -> None:
    assert (scores.n_views, scores.n_views_with_face) == (3, 2)
    assert scores.view_has_face == [True, False, True]
    assert scores.n_reference_pairs == 2 and scores.reid_match.count == 2
    assert scores.reid_match.get() == pytest.approx(0.5), "astronaut matches, Grace Hopper does not"
    assert scores.i2oid.get() == pytest.approx(np.nanmean(scores.cos_to_input))
    assert scores.o2oid.count == 1 and scores.o2oid.get() == pytest.approx(scores.cos_to_input[2], abs=1e-4)
    d = scores.to_dict()
    assert d["I2OID"]["available"] and d["Re-ID match"]["count"] == 2


def test_same_photo_only_gives_full_match(
    identifier: FaceIdentifier, photos: dict[str, torch.Tensor]
) -> None:
    emb = face_embeddings(identifier, torch.stack([photos["grace_hopper"]]))
    s = identity_scores_from_embeddings(emb[0], [emb[0], emb[0]])
    assert s.reid_match.get() == 1.0 and s.i2oid.get() == pytest.approx(1.0, abs=1e-6)
    assert s.o2oid.get() == pytest.approx(1.0, abs=1e-6) and s.reid_dist.get() < 1e-6


def test_image_conversion() -> None:
    x = torch.zeros(3, 2, 4)
    x[0] = 1.0
    rgb = to_uint8_rgb(x)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8 and (rgb[..., 0] == 255).all()
    with pytest.raises(ValueError):
        to_uint8_rgb(torch.zeros(4, 2, 2))
