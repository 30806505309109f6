"""Perception: what the photo says about the person before any fitting.

`Perceiver.perceive(rgb)` returns one `Perception`: the person mask, body keypoints, dense face
landmarks and the dlib face identity, all in pixels of the input image (x right, y down). Each
model is loaded lazily on first use and reused.

Order of work (one person is chosen once and every output is about that person):
1. mediapipe Pose on the whole image (keypoints + that person's mask).
2. Selfie segmentation (model picked by content) to count people: if a second person-sized
   region is over 30% of the largest, a warning is logged and the largest is used; if Pose
   found someone else, it is re-run on a crop around the largest.
3. The mask: Pose's person mask when a pose was found, else the selfie mask; largest component
   plus components holding confident keypoints.
4. Face: FaceMesh on a crop around the head (from the keypoints, else dlib's best detection),
   then dlib's landmarks + embedding for the face FaceMesh found (or the pose's head box).

Measured on this machine (2 CPU cores, warm models, median of 10; astronaut.jpg 512x512 /
grace_hopper.jpg 512x600): pose 25 / 22 ms, selfie segmentation 3-7 ms, face mesh on the head
crop 5 / 4 ms, dlib identity (detection on the face crop + 68 landmarks + embedding) 100 / 75 ms
(the embedding alone is 64 ms); a whole `perceive` 129 / 117 ms. First use loads the models:
~1.2 s for dlib, ~0.3 s for the mediapipe graphs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from humanmv.errors import NoPersonError
from humanmv.perception.face import FaceLandmarks, FaceMesher
from humanmv.perception.identity import FaceIdentifier, FaceIdentity
from humanmv.perception.keypoints import (
    COCO_KEYPOINT_NAMES,
    BodyKeypoints,
    PoseDetection,
    PoseEstimator,
)
from humanmv.perception.segmentation import (
    PersonMask,
    SelfieSegmenter,
    choose_model,
    count_people,
    find_people,
    person_bbox,
    person_mask,
    warn_if_several,
)

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "BodyKeypoints",
    "FaceIdentity",
    "FaceLandmarks",
    "Perception",
    "Perceiver",
    "person_bbox",
]

LOG = logging.getLogger("humanmv")
KEYPOINT_ANCHOR_CONFIDENCE = 0.5
MIN_FACE_SCORE = 0.3  # dlib HOG detections below this are not used as a face hint


@dataclass
class Perception:
    """Everything perceived about the one person in a photo (pixels of that photo).

    mask:      (H, W) float32 in [0, 1], the person (zero elsewhere); `binary` is mask >= 0.5.
    keypoints: body keypoints, or None if no pose was found.
    face:      478 FaceMesh landmarks, or None if no face was found.
    identity:  dlib landmarks + 128-D embedding, or None if dlib found no face.
    width, height: the input image's size.
    n_people:  person-sized regions the selfie segmentation saw (1 normally).
    mask_source: "pose" or "selfie".
    name:      how messages refer to the image.
    timings:   seconds spent per model in this call.
    """

    mask: np.ndarray
    keypoints: BodyKeypoints | None
    face: FaceLandmarks | None
    identity: FaceIdentity | None
    width: int
    height: int
    n_people: int = 1
    mask_source: str = "pose"
    name: str = "the image"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def coco_names(self) -> list[str]:
        """Anny's COCO keypoint names, the order of `coco_xy` / `coco_confidence`."""
        return list(COCO_KEYPOINT_NAMES)

    @property
    def coco_xy(self) -> np.ndarray:
        """(23, 2) float32 pixels in Anny's COCO order; zeros if no pose was found."""
        if self.keypoints is None:
            return np.zeros((len(COCO_KEYPOINT_NAMES), 2), dtype=np.float32)
        return self.keypoints.coco()[0]

    @property
    def coco_confidence(self) -> np.ndarray:
        """(23,) float32 in [0, 1]; all zero if no pose was found."""
        if self.keypoints is None:
            return np.zeros(len(COCO_KEYPOINT_NAMES), dtype=np.float32)
        return self.keypoints.coco()[1]

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    @property
    def binary(self) -> np.ndarray:
        """(H, W) bool person mask."""
        return self.mask >= 0.5

    @property
    def bbox(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of the person mask, x1/y1 exclusive; None if empty."""
        return person_bbox(self.mask)


class Perceiver:
    """Runs the perception models; each is loaded on first use and reused.

    Thread-safe (one call at a time). Use as a context manager or call `close()` to free the
    mediapipe graphs.
    """

    def __init__(self) -> None:
        self.pose = PoseEstimator()
        self.segmenter = SelfieSegmenter()
        self.mesher = FaceMesher()
        self.identifier = FaceIdentifier()
        self._lock = threading.Lock()

    def perceive(
        self,
        rgb: np.ndarray,
        need_face: bool = False,
        need_body: bool = True,
        name: str = "the image",
        need_identity: bool = True,
    ) -> Perception:
        """Perceive the one person in `rgb` (H, W, 3) uint8.

        need_face: raise NoPersonError if no face landmarks are found (the dlib identity may
          still be None, e.g. for a profile view; a warning is logged then).
        need_body: raise NoPersonError if neither body keypoints nor a face are found (nothing
          to fit). With False, a person mask alone is enough. A face without a pose is
          accepted (head mode); in practice Pose finds a person whenever FaceMesh finds a face,
          since BlazePose's detector keys on the face.
        name: how messages refer to the image (e.g. the file name).
        need_identity: compute the dlib identity (~0.1 s, and ~1.2 s to load dlib's models once);
          fitting does not need it.
        Raises NoPersonError when there is no person at all (empty mask and no pose).
        """
        rgb = _check_rgb(rgb)
        with self._lock:
            return self._perceive(rgb, need_face, need_body, name, need_identity)

    def _perceive(self, rgb: np.ndarray, need_face: bool, need_body: bool, name: str,
                  need_identity: bool = True) -> Perception:
        h, w = rgb.shape[:2]
        t: dict[str, float] = {}

        det = _timed(t, "pose", self.pose.detect, rgb)
        kp = det.keypoints if det else None
        model = choose_model((h, w), kp.box() if kp else None, kp.is_full_body() if kp else False)
        selfie = _timed(t, "segmentation", self.segmenter, rgb, model)
        people = find_people(selfie)
        if warn_if_several(people, name) and det is not None and not _on(det.keypoints, people[0].pixels):
            x0, y0, x1, y1 = people[0].box
            pad = 0.15 * max(x1 - x0, y1 - y0)
            again = _timed(t, "pose_rerun", self.pose.detect, rgb, (x0 - pad, y0 - pad, x1 + pad, y1 + pad))
            if again is not None:
                det, kp = again, again.keypoints

        pm = self._mask(selfie, det)
        if not pm.binary.any() and kp is None:
            raise NoPersonError(f"no person found in {name}: use a photo where one person is clearly visible")

        # Where to look for the face: the pose's head, else dlib's most face-like detection.
        head = kp.head_box() if kp else None
        hint = head
        if hint is None:
            faces = _timed(t, "dlib_detect", self.identifier.detect, rgb)
            faces = [f for f in faces if f[1] >= MIN_FACE_SCORE]
            on_person = [f for f in faces if _box_centre_on(f[0], pm.binary)]
            faces = on_person or faces
            hint = tuple(faces[0][0]) if faces else None
        face = _timed(t, "face_mesh", self.mesher.detect, rgb, hint, name)
        # dlib describes the face FaceMesh found, or the pose's head; a dlib-only detection
        # is not trusted (HOG fires on badges and patches).
        near = tuple(face.box) if face is not None else head
        identity = None
        if near is not None and need_identity:
            identity = _timed(t, "dlib_identity", self.identifier.identify, rgb, near, name)

        if need_face and face is None:
            raise NoPersonError(
                f"no face found in {name}: use --mode body or a photo where the face is visible"
            )
        if need_face and need_identity and identity is None:
            LOG.warning(
                "%s: face landmarks found but dlib could not describe the face (profile or "
                "occluded?); continuing without an identity embedding",
                name,
            )
        if need_body and kp is None and face is None:
            raise NoPersonError(
                f"no body or face found in {name}: use a photo where the person's head and "
                "shoulders are visible"
            )
        return Perception(
            mask=pm.soft,
            keypoints=kp,
            face=face,
            identity=identity,
            width=w,
            height=h,
            n_people=max(count_people(people), int(pm.binary.any() or kp is not None)),
            mask_source=pm.source,
            name=name,
            timings=t,
        )

    @staticmethod
    def _mask(selfie: np.ndarray, det: PoseDetection | None) -> PersonMask:
        if det is not None:
            conf = det.keypoints.confidence()
            anchors = det.keypoints.xy[conf >= KEYPOINT_ANCHOR_CONFIDENCE]
            pm = person_mask(det.mask, anchors=anchors, source="pose")
            if pm.binary.any():
                return pm
            return person_mask(selfie, anchors=anchors, source="selfie")
        return person_mask(selfie, source="selfie")

    def warm_up(self) -> None:
        """Load every model and run each once (~1.5 s), so the first photo is not slower."""
        blank = np.full((256, 256, 3), 128, dtype=np.uint8)
        with self._lock:
            self.pose.detect(blank)
            self.segmenter(blank, 0)
            self.segmenter(blank, 1)
            self.mesher.detect(blank)
            self.identifier.detect(blank, upsample=0)

    def close(self) -> None:
        with self._lock:
            self.pose.close()
            self.segmenter.close()
            self.mesher.close()
            self.identifier.close()

    def __enter__(self) -> Perceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _timed(timings: dict[str, float], key: str, fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def _on(kp: BodyKeypoints, pixels: np.ndarray) -> bool:
    """True if most confident keypoints fall on `pixels` (H, W) bool."""
    conf = kp.confidence()
    pts = np.round(kp.xy[conf >= KEYPOINT_ANCHOR_CONFIDENCE]).astype(np.int64)
    if len(pts) == 0:
        return False
    h, w = pixels.shape
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return bool(pixels[pts[:, 1], pts[:, 0]].mean() >= 0.5)


def _box_centre_on(box: np.ndarray, pixels: np.ndarray) -> bool:
    h, w = pixels.shape
    cx = int(np.clip((box[0] + box[2]) / 2, 0, w - 1))
    cy = int(np.clip((box[1] + box[3]) / 2, 0, h - 1))
    return bool(pixels[cy, cx])


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"perceive expects an (H, W, 3) uint8 RGB array, got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)
