"""Face identity with dlib: HOG face detector, 68-point landmarks, 128-D embedding.

The embedding is dlib's ResNet face descriptor computed on the aligned 150x150 face chip. It is
not unit length (norms are ~1.4 on the example photos); Euclidean distance < 0.6 is dlib's
"same person" threshold, so compare raw embeddings with `FaceIdentity.distance`.

Model files come from the `face_recognition_models` package, located without importing it
(its `__init__` imports pkg_resources).

Measured here (2 cores, median of 10): model load ~1.2 s (once); HOG detection 17-19 ms on
the 512x512 / 512x600 examples (85-97 ms with one upsampling, needed for faces under ~80 px);
68 landmarks 1.7 ms; aligned chip 0.2 ms; embedding 64 ms. `identify` near a face box
(crop + detection + landmarks + embedding): 75-100 ms.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from humanmv.perception.face import square_crop_box

LOG = logging.getLogger("humanmv")

SHAPE_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
SAME_PERSON_DISTANCE = 0.6
MIN_REPORTED_SCORE = 0.3  # HOG detections under this score are not counted as extra faces
TARGET_FACE_PX = 160  # a hinted face is rescaled to about this size before detection


@dataclass
class FaceIdentity:
    """One face as dlib sees it, in pixels of the input image.

    box:         (4,) float32 (x0, y0, x1, y1), the HOG detection.
    landmarks68: (68, 2) float32, iBUG 68-point landmarks, x right, y down.
    embedding:   (128,) float32, dlib's face descriptor (not unit length).
    score:       the HOG detector's score (higher = more face-like).
    chip:        (150, 150, 3) uint8, the aligned face crop the embedding was computed on.
    """

    box: np.ndarray
    landmarks68: np.ndarray
    embedding: np.ndarray
    score: float
    chip: np.ndarray

    def distance(self, other: FaceIdentity | np.ndarray) -> float:
        """Euclidean distance between embeddings; < 0.6 means "same person" for dlib."""
        e = other.embedding if isinstance(other, FaceIdentity) else np.asarray(other)
        return float(np.linalg.norm(self.embedding.astype(np.float64) - e.astype(np.float64)))


def model_dir() -> Path:
    """Folder holding face_recognition_models' .dat files (without importing the package)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "face_recognition_models is not installed: pip install face_recognition_models==0.3.0"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceIdentifier:
    """dlib's detector, shape predictor and recognition model, each loaded once on first use.

    Not thread-safe: one call at a time (the `Perceiver` holds a lock).
    """

    def __init__(self) -> None:
        self._detector: Any = None
        self._predictor: Any = None
        self._encoder: Any = None

    def _models(self) -> tuple[Any, Any, Any]:
        if self._detector is None:
            import dlib

            d = model_dir()
            self._predictor = dlib.shape_predictor(str(d / SHAPE_PREDICTOR_FILE))
            self._encoder = dlib.face_recognition_model_v1(str(d / RECOGNITION_FILE))
            self._detector = dlib.get_frontal_face_detector()
        return self._detector, self._predictor, self._encoder

    def detect(self, rgb: np.ndarray, upsample: int | None = None) -> list[tuple[np.ndarray, float]]:
        """HOG face boxes in `rgb` (H, W, 3) uint8: [(box (4,) float32 x0,y0,x1,y1, score)],
        best score first. `upsample=None` tries 0, then 1 if nothing was found."""
        detector, _, _ = self._models()
        img = np.ascontiguousarray(rgb)
        for up in (0, 1) if upsample is None else (upsample,):
            rects, scores, _ = detector.run(img, up, 0.0)
            if len(rects):
                found = [
                    (np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float32), float(s))
                    for r, s in zip(rects, scores)
                ]
                return sorted(found, key=lambda f: -f[1])
        return []

    def identify(
        self,
        rgb: np.ndarray,
        near_box: tuple[float, float, float, float] | np.ndarray | None = None,
        name: str = "the image",
    ) -> FaceIdentity | None:
        """Landmarks and embedding of one face; None if dlib finds no face.

        near_box: optional (x0, y0, x1, y1) of the face wanted (e.g. FaceMesh's box). Then the
          detector runs on a crop around it rescaled so the face is ~160 px (so small faces
          work), and the detection overlapping it most is used. Without it, the largest face in
          the whole image is used and a warning is logged if there are several.
        """
        h, w = rgb.shape[:2]
        if near_box is None:
            faces = self.detect(rgb)
            if not faces:
                return None
            faces.sort(key=lambda f: (-_area(f[0]), -f[1]))
            strong = [f for f in faces if f[1] >= MIN_REPORTED_SCORE]
            if len(strong) > 1:
                LOG.warning("%d faces found in %s, using the largest", len(strong), name)
            box, score = faces[0]
            return self._describe(rgb, box, score, offset=(0, 0), scale=1.0)

        near = np.asarray(near_box, dtype=np.float64)
        x0, y0, x1, y1 = square_crop_box(tuple(near), 2.5, w, h)
        scale = float(np.clip(TARGET_FACE_PX / max(near[2] - near[0], near[3] - near[1], 1.0), 0.25, 6.0))
        crop = rgb[y0:y1, x0:x1]
        if scale != 1.0:
            interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
        crop = np.ascontiguousarray(crop)
        faces = self.detect(crop)
        if not faces:
            return None
        near_crop = (near - np.array([x0, y0, x0, y0])) * scale
        overlaps = [_iou(f[0], near_crop) for f in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] <= 0.05:
            return None
        box, score = faces[best]
        return self._describe(crop, box, score, offset=(x0, y0), scale=scale)

    def _describe(
        self, img: np.ndarray, box: np.ndarray, score: float, offset: tuple[int, int], scale: float
    ) -> FaceIdentity:
        import dlib

        _, predictor, encoder = self._models()
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = predictor(img, rect)
        chip = np.asarray(dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        embedding = np.asarray(encoder.compute_face_descriptor(chip), dtype=np.float32)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        off = np.array(offset, dtype=np.float32)
        return FaceIdentity(
            box=(box.reshape(2, 2) / scale + off).reshape(4).astype(np.float32),
            landmarks68=(pts / scale + off).astype(np.float32),
            embedding=embedding,
            score=float(score),
            chip=np.ascontiguousarray(chip, dtype=np.uint8),
        )

    def close(self) -> None:
        self._detector = self._predictor = self._encoder = None


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return float(inter / union) if union > 0 else 0.0
