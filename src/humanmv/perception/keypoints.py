"""Body keypoints from mediapipe Pose (BlazePose GHUM, 33 landmarks + a person mask).

Coordinates are pixels of the image given to `PoseEstimator.detect` (x right, y down), even when
the model ran on a crop of it. `BodyKeypoints.coco()` maps the 33 mediapipe landmarks to Anny's
23 COCO-WholeBody-style keypoints (`COCO_KEYPOINT_NAMES`). Left/right are the person's own.

Measured here (2 CPU cores, model_complexity=1, segmentation on, median of 10): 25 ms on
examples/astronaut.jpg (512x512), 22 ms on examples/grace_hopper.jpg (512x600); the first call
after construction adds ~0.3 s of graph set-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

COCO_KEYPOINT_NAMES: list[str] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_big_toe",
    "right_big_toe",
    "left_small_toe",
    "right_small_toe",
    "left_heel",
    "right_heel",
]
"""Anny's COCO keypoint order (the keys of anny/data/keypoints/coco.pth)."""

MEDIAPIPE_POSE_NAMES: list[str] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
]
"""mediapipe Pose's 33 landmarks, in its order."""

_MP_INDEX = {name: i for i, name in enumerate(MEDIAPIPE_POSE_NAMES)}
_COCO_ALIASES = {"left_big_toe": "left_foot_index", "right_big_toe": "right_foot_index"}
COCO_FROM_MEDIAPIPE: np.ndarray = np.array(
    [_MP_INDEX.get(_COCO_ALIASES.get(n, n), -1) for n in COCO_KEYPOINT_NAMES], dtype=np.int64
)
"""For each COCO keypoint, its mediapipe index, or -1 (small toes: no counterpart)."""

HEAD_INDICES = np.arange(11)  # nose, eyes, ears, mouth corners


@dataclass
class BodyKeypoints:
    """One person's 33 mediapipe Pose landmarks.

    xy:         (33, 2) float32, pixels of the input image (x right, y down); points the model
                guessed outside the image keep their guessed position.
    z:          (33,) float32, mediapipe's relative depth in pixels (origin between the hips,
                smaller = nearer the camera); rough.
    visibility: (33,) float32 in [0, 1], mediapipe's "visible and not occluded" score.
    world:      (33, 3) float32 metres, hip-centred, same axes as the image (x right, y down,
                z away from the camera).
    image_size: (width, height) of the input image.
    """

    xy: np.ndarray
    z: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    image_size: tuple[int, int]

    def inside(self, margin: float = 0.0) -> np.ndarray:
        """(33,) bool: the point lies inside the image (grown by `margin` pixels)."""
        w, h = self.image_size
        x, y = self.xy[:, 0], self.xy[:, 1]
        return (x >= -margin) & (y >= -margin) & (x <= w - 1 + margin) & (y <= h - 1 + margin)

    def confidence(self) -> np.ndarray:
        """(33,) float32: the visibility, 0 for points outside the image."""
        return np.where(self.inside(), self.visibility, 0.0).astype(np.float32)

    def coco(self) -> tuple[np.ndarray, np.ndarray]:
        """Anny's COCO order: (xy (23, 2) float32 pixels, confidence (23,) float32 in [0, 1]).

        Small toes have no mediapipe landmark: xy is the big toe's, confidence 0.
        """
        idx = COCO_FROM_MEDIAPIPE
        conf_all = self.confidence()
        safe = np.where(idx >= 0, idx, 0)
        xy = self.xy[safe].copy()
        conf = np.where(idx >= 0, conf_all[safe], 0.0).astype(np.float32)
        for side in ("left", "right"):  # small toe: place it on the big toe, confidence 0
            small = COCO_KEYPOINT_NAMES.index(f"{side}_small_toe")
            xy[small] = self.xy[_MP_INDEX[f"{side}_foot_index"]]
        return xy.astype(np.float32), conf

    def box(self, min_confidence: float = 0.5) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) around the confident points, or None if fewer than 2."""
        ok = self.confidence() >= min_confidence
        if ok.sum() < 2:
            return None
        pts = self.xy[ok]
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def head_box(self, min_confidence: float = 0.5) -> tuple[float, float, float, float] | None:
        """A square (x0, y0, x1, y1) about one face wide around the head, or None.

        Built from the confident head landmarks (nose, eyes, ears, mouth); its side is the
        larger of their span and 2.5x the eye distance, so it stays face-sized in profile.
        """
        conf = self.confidence()[HEAD_INDICES]
        ok = conf >= min_confidence
        if ok.sum() < 3:
            return None
        pts = self.xy[HEAD_INDICES][ok]
        centre = pts.mean(axis=0)
        span = float((pts.max(axis=0) - pts.min(axis=0)).max())
        eye_dist = float(np.linalg.norm(self.xy[_MP_INDEX["left_eye"]] - self.xy[_MP_INDEX["right_eye"]]))
        side = max(span, 2.5 * eye_dist, 8.0)
        return (
            float(centre[0] - side / 2),
            float(centre[1] - side / 2),
            float(centre[0] + side / 2),
            float(centre[1] + side / 2),
        )

    def is_full_body(self, min_confidence: float = 0.5) -> bool:
        """Both ankles or both knees confidently inside the image."""
        conf = self.confidence()
        for a, b in (("left_ankle", "right_ankle"), ("left_knee", "right_knee")):
            if min(conf[_MP_INDEX[a]], conf[_MP_INDEX[b]]) >= min_confidence:
                return True
        return False


@dataclass
class PoseDetection:
    """mediapipe Pose's output for one image: the keypoints and its person mask.

    mask: (H, W) float32 in [0, 1], the person the keypoints belong to (full input size).
    """

    keypoints: BodyKeypoints
    mask: np.ndarray


class PoseEstimator:
    """mediapipe Pose (static images, model_complexity=1, segmentation on), loaded on first use.

    Not thread-safe: one call at a time (the `Perceiver` holds a lock).
    """

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5) -> None:
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self._model: Any = None

    def _get(self) -> Any:
        if self._model is None:
            from mediapipe.python.solutions import pose as mp_pose

            self._model = mp_pose.Pose(
                static_image_mode=True,
                model_complexity=self.model_complexity,
                enable_segmentation=True,
                min_detection_confidence=self.min_detection_confidence,
            )
        return self._model

    def detect(
        self, rgb: np.ndarray, roi: tuple[int, int, int, int] | None = None
    ) -> PoseDetection | None:
        """Find one person's pose in `rgb` (H, W, 3) uint8; None if no person is found.

        roi: optional (x0, y0, x1, y1) pixel box to run on (e.g. one of several people); the
             result is still in full-image pixels and the mask full-size.
        """
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = (0, 0, w, h) if roi is None else _clip_box(roi, w, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        res = self._get().process(crop)
        if res.pose_landmarks is None:
            return None
        cw, ch = x1 - x0, y1 - y0
        lms = res.pose_landmarks.landmark
        xy = np.array([[lm.x * cw + x0, lm.y * ch + y0] for lm in lms], dtype=np.float32)
        z = np.array([lm.z * cw for lm in lms], dtype=np.float32)
        vis = np.clip(np.array([lm.visibility for lm in lms], dtype=np.float32), 0.0, 1.0)
        if res.pose_world_landmarks is not None:
            world = np.array(
                [[lm.x, lm.y, lm.z] for lm in res.pose_world_landmarks.landmark], dtype=np.float32
            )
        else:
            world = np.zeros((len(lms), 3), dtype=np.float32)
        mask = np.zeros((h, w), dtype=np.float32)
        if res.segmentation_mask is not None:
            mask[y0:y1, x0:x1] = np.clip(res.segmentation_mask, 0.0, 1.0)
        kp = BodyKeypoints(xy=xy, z=z, visibility=vis, world=world, image_size=(w, h))
        return PoseDetection(keypoints=kp, mask=mask)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


def _clip_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (
        int(max(0, np.floor(x0))),
        int(max(0, np.floor(y0))),
        int(min(w, np.ceil(x1))),
        int(min(h, np.ceil(y1))),
    )
