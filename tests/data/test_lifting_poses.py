"""Pose sets by split, and the lifter's random views of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humanmv.data.lifting_poses import (PoseViews, ViewSampling, pose_set_seeds, sample_pose_set_params,
                                        sample_views, write_pose_set)
from humanmv.models.pose_lifter import normalise_layout
from humanmv.perception.keypoints import COCO_KEYPOINT_NAMES as NAMES


def test_splits_never_share_a_subject():
    train, val, test = (set(pose_set_seeds(s, 200)) for s in ("train", "val", "test"))
    assert len(train) == len(val) == len(test) == 200
    assert not (train & val) and not (train & test) and not (val & test)


@pytest.fixture(scope="module")
def pose_set(tmp_path_factory):
    return write_pose_set(tmp_path_factory.mktemp("poses") / "val.npz", 12, "val")


def test_pose_set_is_deterministic_and_mixes_families(pose_set, tmp_path):
    again = write_pose_set(tmp_path / "again.npz", 12, "val")
    with np.load(pose_set) as a, np.load(again) as b:
        assert a["keypoints"].shape == (12, len(NAMES), 3)
        np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
        assert list(a["keypoint_names"]) == NAMES
        assert len(set(a["family"].tolist())) >= 3


def test_chosen_families(body):
    from humanmv.data.engine import SubjectSampler

    sampler = SubjectSampler(body)
    families = {sample_pose_set_params(sampler, s, ("walking", "dynamic"))[1] for s in pose_set_seeds("test", 10)}
    assert families <= {"walking", "dynamic"} and len(families) == 2
    with pytest.raises(ValueError, match="unknown pose families"):
        sample_pose_set_params(sampler, 0, ("walk",))


def test_views_change_with_the_epoch_and_repeat_with_it(pose_set):
    ds = PoseViews(pose_set, views=4, seed=3)
    ds.set_epoch(1)
    a = ds[2]
    ds.set_epoch(2)
    b = ds[2]
    ds.set_epoch(1)
    c = ds[2]
    assert a["rays"].shape == (4, len(NAMES), 2) and a["target"].shape == (4, len(NAMES), 3)
    assert torch.equal(a["rays"], c["rays"]) and not torch.equal(a["rays"], b["rays"])
    # the target is a layout: centred, unit RMS spread
    assert torch.allclose(a["target"].mean(1), torch.zeros(4, 3), atol=1e-5)
    assert torch.allclose(a["target"].square().sum(-1).mean(1), torch.ones(4), atol=1e-4)


def test_crops_hide_the_lower_body_only(body):
    """With every view cropped, the unseen points are the low ones (never a shoulder); small
    toes are never seen (mediapipe has no such points)."""
    with torch.no_grad():
        from humanmv.body.anny_model import BodyParams

        pts = body(BodyParams.neutral(1)).keypoints[0]
    g = torch.Generator().manual_seed(0)
    v = sample_views(pts, 64, g, NAMES, ViewSampling(crop_share=1.0, occlusion_share=0.0, front_share=1.0,
                                                      roll_std_deg=0.0, elevation_deg=(0.0, 0.0)))
    seen = v["seen"]
    assert (seen[:, NAMES.index("left_small_toe")] == 0).all()
    assert (seen[:, NAMES.index("left_shoulder")] == 1).all() and (seen[:, NAMES.index("nose")] == 1).all()
    assert (seen[:, NAMES.index("left_ankle")] == 0).all()  # below every cut between hips and ankles
    assert torch.allclose(normalise_layout(v["target"]), v["target"], atol=1e-5)
