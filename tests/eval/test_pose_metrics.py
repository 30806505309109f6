"""PCK@alpha: the arithmetic on arrays, and mediapipe on an example photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from humanmv.eval.pose_metrics import mask_boxes, pck, pose_pck
from humanmv.io.images import load_image
from humanmv.perception.keypoints import COCO_KEYPOINT_NAMES, PoseEstimator
from humanmv.views import channels_first

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_pck_counts_hits_misses_and_invisible_joints() -> None:
    gt = np.array([[[0.0, 0.0], [100.0, 0.0], [0.0, 200.0], [50.0, 50.0]]])  # box 100 x 200
    pred = gt + np.array([[[5.0, 0.0], [0.0, 19.0], [30.0, 0.0], [np.nan, np.nan]]])
    vis = np.array([[True, True, True, True]])
    res = pck(pred, gt, vis, alpha=0.1)  # threshold 0.1 * 200 = 20 px
    assert (res.correct, res.total) == (2, 4), "joint 2 is 30 px off, joint 3 not detected"
    assert res.pck.get() == 0.5 and res.pck.name == "PCK@0.1" and res.pck.count == 4
    np.testing.assert_array_equal(res.per_joint, [1.0, 1.0, 0.0, 0.0])
    # low confidence counts as not found; invisible ground truth is not counted at all
    conf = np.array([[0.9, 0.2, 0.9, 0.9]])
    vis2 = np.array([[True, True, False, True]])
    res2 = pck(pred, gt, vis2, conf, alpha=0.1)
    assert (res2.correct, res2.total) == (1, 3) and np.isnan(res2.per_joint[2])
    # a given box sets the scale: 0.1 * 400 = 40 px, so joint 2 is now within
    res3 = pck(pred, gt, vis, alpha=0.1, boxes=np.array([[0.0, 0.0, 400.0, 10.0]]))
    assert res3.correct == 3
    none = pck(pred, gt, np.zeros((1, 4), bool))
    assert not none.pck.available and "no visible" in none.pck.reason


def test_mask_boxes() -> None:
    m = torch.zeros(2, 1, 10, 12)
    m[0, 0, 2:5, 3:9] = 1.0
    boxes = mask_boxes(m)
    np.testing.assert_array_equal(boxes[0], [3, 2, 9, 5])
    assert np.isnan(boxes[1]).all()


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    est = PoseEstimator()
    yield est
    est.close()


def test_pose_pck_on_a_photo(estimator: PoseEstimator) -> None:
    rgb = load_image(EXAMPLES / "astronaut.jpg").rgb
    det = estimator.detect(rgb)
    assert det is not None
    xy, conf = det.keypoints.coco()
    view = channels_first(torch.from_numpy(rgb.copy())).float() / 255.0
    views = torch.stack([view, torch.full_like(view, 0.5)])  # the photo, and a view with nobody
    vis = np.repeat((conf >= 0.5)[None], 2, axis=0)
    box = np.array([[0.0, 0.0, 512.0, 512.0]] * 2)
    # ground truth = what the detector finds, moved by 2% of the box: all correct in view 0
    res = pose_pck(estimator, views, np.stack([xy, xy]) + 0.02 * 512, vis, alpha=0.1, boxes=box)
    assert res.n_views == 2 and res.n_views_without_pose == 1
    assert res.per_view[0] == 1.0 and res.per_view[1] == 0.0
    assert res.total == 2 * int(vis[0].sum()) and res.pck.get() == pytest.approx(0.5)
    # moved by 15% of the box: nothing within 10%
    far = pose_pck(estimator, views[:1], xy[None] + 0.15 * 512, vis[:1], alpha=0.1, boxes=box[:1])
    assert far.correct == 0 and far.total == int(vis[0].sum())
    # the small toes have no mediapipe landmark and are never evaluated
    toes = [COCO_KEYPOINT_NAMES.index(n) for n in ("left_small_toe", "right_small_toe")]
    all_vis = np.ones((1, len(COCO_KEYPOINT_NAMES)), bool)
    full = pose_pck(estimator, views[:1], xy[None], all_vis, boxes=box[:1])
    assert full.total == len(COCO_KEYPOINT_NAMES) - 2 and np.isnan(full.per_joint[toes]).all()
