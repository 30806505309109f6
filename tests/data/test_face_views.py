"""Face-crop training items: the ground truth's faces in their boxes, conditions in the crops'
cameras, the input's face as reference, shape and identity vectors, seeded view choice."""

from __future__ import annotations

import pytest
import torch

from humanmv.data.face_views import FaceCropViews
from humanmv.errors import ConfigError


@pytest.fixture(scope="module")
def portraits(tmp_path_factory):
    from humanmv.data.synth import synthesize

    root = tmp_path_factory.mktemp("faces") / "ds"
    synthesize(root, "head-bench-haired", 2, seed=4)
    return root


def test_items_are_faces_with_their_conditions(portraits, body, renderer):
    ds = FaceCropViews(portraits, body, size=64, views=3, split=None, renderer=renderer)
    assert len(ds) == 2
    item = ds[0]
    n = item["target"].shape[0]
    assert n == 3 and item["target"].shape == (3, 3, 64, 64) and item["conditions"].shape == (3, 11, 64, 64)
    assert item["camera"].shape == (3, 12) and item["reference"].shape == (3, 64, 64)
    assert item["shape"].shape == (6 + len(body.expression_names),) and item["identity"].shape == (128,)
    assert (item["angle"] <= 100).all()
    # The crop is the face: mostly face pixels, drawn (not white) there, and the rendered mask agrees.
    share = item["face_mask"].mean((1, 2))
    assert (share > 0.05).all() and share[item["angle"].argmin()] > 0.15  # profiles show less face
    face = item["face_mask"] > 0.5
    assert (item["target"].permute(0, 2, 3, 1)[face].mean(-1) < 0.95).float().mean() > 0.95
    rendered = item["conditions"][:, 3] > 0.5
    assert (face & ~rendered).sum() < 0.03 * face.sum()  # the face lies on the rendered body (edges resampled)
    assert bool(item["has_identity"]) == bool(item["identity"].abs().sum() > 0)


def test_view_choice_is_seeded_by_epoch(portraits, body, renderer):
    ds = FaceCropViews(portraits, body, size=32, views=2, split=None, renderer=renderer)
    a, b = ds[1]["angle"], ds[1]["angle"]
    assert torch.equal(a, b)
    seen = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        seen.add(tuple(ds[1]["angle"].tolist()))
    assert len(seen) > 1


def test_a_folder_without_subjects_is_refused(tmp_path, body):
    (tmp_path / "subjects").mkdir()
    (tmp_path / "manifest.json").write_text('{"subjects": []}')
    with pytest.raises(ConfigError, match="no finished subjects"):
        FaceCropViews(tmp_path, body)
