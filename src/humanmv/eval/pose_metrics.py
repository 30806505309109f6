"""Pose accuracy of generated views: PCK@alpha of detected keypoints against projected joints.

A generated view should show the body in the pose of the body model it was conditioned on. The
ground truth is the body's joints projected with the view's camera (Anny's 23 COCO keypoints,
`humanmv.perception.keypoints.COCO_KEYPOINT_NAMES`); the prediction is what a 2D pose detector
(mediapipe, mapped to the same order) finds in the view.

PCK@alpha: a visible ground-truth joint counts as correct when the detector found it (confidence
>= min_confidence) within alpha * max(box width, box height) pixels, where the box is the
person's box in that view (given, e.g. from the rendered mask with `mask_boxes`, or else the
box around the visible ground-truth joints). Joints the detector missed count as wrong, not as
excluded; a view where no person was detected counts all its visible joints as wrong. Joints
the detector has no counterpart for (the small toes for mediapipe) are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from humanmv.eval.availability import Metric
from humanmv.eval.identity_metrics import to_uint8_rgb
from humanmv.perception.keypoints import COCO_FROM_MEDIAPIPE, PoseEstimator


@dataclass
class PCKResult:
    """PCK over V views and K joints.

    pck:        `Metric` "PCK@alpha": correct / total, unavailable when total == 0.
    correct:    number of visible ground-truth joints found within the threshold.
    total:      number of visible ground-truth joints evaluated.
    per_joint:  (K,) float64 fraction correct per joint, NaN for joints never visible.
    per_view:   (V,) float64 fraction correct per view, NaN for views without visible joints.
    n_views:    V.
    n_views_without_pose: views where the detector found no person (only set by `pose_pck`).
    alpha:      the threshold's fraction of the box size.
    """

    pck: Metric
    correct: int
    total: int
    per_joint: np.ndarray
    per_view: np.ndarray
    n_views: int
    n_views_without_pose: int
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "pck": self.pck.to_dict(),
            "correct": self.correct,
            "total": self.total,
            "n_views": self.n_views,
            "n_views_without_pose": self.n_views_without_pose,
            "alpha": self.alpha,
        }


def mask_boxes(masks: Tensor | np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) pixel boxes of masks, `(V, 4)` float64; NaN rows for empty masks.

    masks: (V, 1, H, W) or (V, H, W), bool or float (thresholded at 0.5).
    """
    m = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    if m.ndim == 4:
        m = m[:, 0]
    m = m > 0.5 if m.dtype != bool else m
    out = np.full((m.shape[0], 4), np.nan)
    for i, mi in enumerate(m):
        ys, xs = np.nonzero(mi)
        if len(xs):
            out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def pck(
    pred_xy: np.ndarray,
    gt_xy: np.ndarray,
    gt_visible: np.ndarray,
    pred_confidence: np.ndarray | None = None,
    alpha: float = 0.1,
    boxes: np.ndarray | None = None,
    min_confidence: float = 0.5,
) -> PCKResult:
    """PCK@alpha from arrays.

    pred_xy:         (V, K, 2) detected keypoints in pixels (x right, y down); NaN = not found.
    gt_xy:           (V, K, 2) ground-truth (projected) joints in pixels.
    gt_visible:      (V, K) bool, joints to evaluate (inside the image, not occluded).
    pred_confidence: optional (V, K) in [0, 1]; below `min_confidence` counts as not found.
    alpha:           threshold as a fraction of the box's larger side.
    boxes:           optional (V, 4) (x0, y0, x1, y1) person boxes; default: the box around the
                     view's visible ground-truth joints.
    """
    pred = np.asarray(pred_xy, np.float64)
    gt = np.asarray(gt_xy, np.float64)
    vis = np.asarray(gt_visible, bool)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2 or vis.shape != gt.shape[:2]:
        raise ValueError(
            f"pck: expected pred/gt (V, K, 2) and visible (V, K), got {pred.shape}, {gt.shape}, {vis.shape}"
        )
    v = vis.shape[0]
    if boxes is None:
        sizes = np.zeros(v)
        for i in range(v):
            pts = gt[i][vis[i]]
            if len(pts):
                sizes[i] = float((pts.max(axis=0) - pts.min(axis=0)).max())
    else:
        b = np.asarray(boxes, np.float64).reshape(v, 4)
        sizes = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    thresh = alpha * np.nan_to_num(sizes, nan=0.0)
    err = np.linalg.norm(pred - gt, axis=2)
    found = ~np.isnan(err)
    if pred_confidence is not None:
        found &= np.asarray(pred_confidence, np.float64) >= min_confidence
    correct = vis & found & (np.nan_to_num(err, nan=np.inf) <= thresh[:, None])
    total = int(vis.sum())
    n_ok = int(correct.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(vis.sum(0) > 0, correct.sum(0) / np.maximum(vis.sum(0), 1), np.nan)
        per_view = np.where(vis.sum(1) > 0, correct.sum(1) / np.maximum(vis.sum(1), 1), np.nan)
    name = f"PCK@{alpha:g}"
    metric = (
        Metric.ok(name, n_ok / total, count=total)
        if total
        else Metric.unavailable(name, "no visible ground-truth joints in any view")
    )
    return PCKResult(metric, n_ok, total, per_joint, per_view, v, 0, alpha)


def pose_pck(
    estimator: PoseEstimator,
    views: Tensor,
    gt_xy: np.ndarray,
    gt_visible: np.ndarray,
    alpha: float = 0.1,
    boxes: np.ndarray | None = None,
    min_confidence: float = 0.5,
) -> PCKResult:
    """Detect the pose in each view with mediapipe and score PCK@alpha against ground truth.

    estimator:  a `PoseEstimator` (mediapipe Pose, loaded once on first use).
    views:      (V, 3, H, W) float in [0, 1].
    gt_xy:      (V, 23, 2) projected joints in Anny's COCO order, pixels of the views.
    gt_visible: (V, 23) bool; the small toes (no mediapipe landmark) are excluded whatever it says.
    boxes:      optional (V, 4) person boxes (e.g. `mask_boxes(rendered_masks)`).
    """
    if not isinstance(views, Tensor) or views.dim() != 4 or views.shape[1] != 3:
        raise ValueError(f"expected (V, 3, H, W) views, got {getattr(views, 'shape', None)}")
    v = views.shape[0]
    k = len(COCO_FROM_MEDIAPIPE)
    gt = np.asarray(gt_xy, np.float64)
    if gt.shape != (v, k, 2):
        raise ValueError(f"gt_xy: expected ({v}, {k}, 2), got {gt.shape}")
    pred = np.full((v, k, 2), np.nan)
    conf = np.zeros((v, k))
    missing = 0
    for i in range(v):
        det = estimator.detect(to_uint8_rgb(views[i]))
        if det is None:
            missing += 1
            continue
        pred[i], conf[i] = det.keypoints.coco()
    vis = np.asarray(gt_visible, bool) & (COCO_FROM_MEDIAPIPE >= 0)[None, :]
    res = pck(pred, gt, vis, conf, alpha=alpha, boxes=boxes, min_confidence=min_confidence)
    res.n_views_without_pose = missing
    return res
