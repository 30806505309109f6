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
    assert n == 3 and item["target"].shape == (3, 4, 64, 64) and item["coarse"].shape == (3, 4, 64, 64)
    assert item["normal"].shape == (3, 3, 64, 64) and item["extra"].shape == (3, 8, 64, 64)
    assert item["camera"].shape == (3, 12) and item["reference"].shape == (4, 64, 64)
    assert item["reference_conditions"].shape == (7, 64, 64) and item["reference_extra"].shape == (8, 64, 64)
    assert torch.equal(item["reference_conditions"][:4], item["reference"])  # the reference is its own coarse
    assert item["shape"].shape == (6 + len(body.expression_names),) and item["identity"].shape == (128,)
    assert (item["angle"] <= 100).all()
    # The crop is the face: mostly face pixels, drawn (not white) there, and the rendered mask agrees.
    share = item["face_mask"].mean((1, 2))
    assert (share > 0.05).all() and share[item["angle"].argmin()] > 0.15  # profiles show less face
    face = item["face_mask"] > 0.5
    assert (item["target"][:, :3].permute(0, 2, 3, 1)[face].mean(-1) < 0.95).float().mean() > 0.95
    assert (item["target"][:, 3][face] > 0.5).float().mean() > 0.99  # alpha: the person
    rendered = item["extra"][:, 0] > 0.5
    # Off the body the normal map is white; on it, unit normals mapped to [0, 1].
    assert torch.all(item["normal"].permute(0, 2, 3, 1)[~rendered] == 1)
    n01 = item["normal"].permute(0, 2, 3, 1)[rendered] * 2 - 1
    assert ((n01.norm(dim=-1) - 1).abs() < 0.05).float().mean() > 0.95
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


def test_coarse_is_the_target_degraded(portraits, body, renderer):
    import numpy as np

    from humanmv.data.face_views import degrade_faces

    ds = FaceCropViews(portraits, body, size=64, views=2, split=None, renderer=renderer)
    item = ds[0]
    target, coarse = item["target"], item["coarse"]
    # Blurred, not replaced: close in the mean, far less fine detail.
    assert (target - coarse).abs().mean() < 0.1
    # Fine detail is gone: pixel noise at 128 px survives a 10-40 px shrink only as a blur.
    noise = torch.cat([torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)), torch.ones(2, 1, 128, 128)], 1)
    detail = lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().mean()  # noqa: E731
    assert detail(degrade_faces(noise, np.random.default_rng(0))[:, :3]) < 0.3 * detail(noise[:, :3])
    clean = FaceCropViews(portraits, body, size=64, views=2, split=None, renderer=renderer, degrade=False)[0]
    assert torch.equal(clean["coarse"], clean["target"])
    # Seeded: the same generator state gives the same degradation.
    a = degrade_faces(target, np.random.default_rng(3))
    b = degrade_faces(target, np.random.default_rng(3))
    assert torch.equal(a, b) and a.shape == target.shape and a.min() >= 0 and a.max() <= 1


def test_colour_augment_moves_reference_and_targets_together(portraits, body, renderer):
    plain = FaceCropViews(portraits, body, size=32, views=2, split=None, renderer=renderer, degrade=False)[1]
    jittered = FaceCropViews(portraits, body, size=32, views=2, split=None, renderer=renderer, degrade=False,
                             colour_augment=1.0, colour_strength=1.0)[1]
    face = plain["face_mask"] > 0.5
    moved = lambda a, b: (a[:, :3].permute(0, 2, 3, 1)[face] - b[:, :3].permute(0, 2, 3, 1)[face]).abs().mean()  # noqa: E731
    assert moved(jittered["target"], plain["target"]) > 0.02
    # The reference went through the same transform: the jittered item stays self-consistent.
    assert torch.equal(jittered["identity"], plain["identity"])  # identity from the clean face
