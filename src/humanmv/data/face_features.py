"""Where a synthetic face's eyebrows, lips and irises go in Anny's UV texture.

Anny's texture has no face painted on it; without brows, lips and irises a render is a
mannequin that face detectors (dlib's HOG, used by `humanmv prune`) often miss. The features
are placed through the MediaPipe face-mesh -> Anny vertex table
(`assets/anny_face_landmarks.json`): the landmark contours, at the rest pose, are filled in the
frontal (x, y) plane at 0.5 mm resolution, and every front-facing head texel looks itself up
there by its rest-pose position. Irises are discs round the iris-centre landmarks on the
eyeballs. The masks depend only on the topology, so an atlas computes them once.
"""

from __future__ import annotations

import numpy as np
import torch

# MediaPipe face-mesh landmark contours (subject's right brow first, then left).
BROWS = ([70, 63, 105, 66, 107, 55, 65, 52, 53, 46], [300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
IRIS_CENTRES = (468, 473)
IRIS_RADIUS, PUPIL_RADIUS = 0.0065, 0.003  # metres
RES = 0.0005  # metres per cell of the frontal raster


def face_feature_masks(rest: torch.Tensor, position: torch.Tensor, part: torch.Tensor,
                       head_label: int, eyes_label: int) -> dict[str, torch.Tensor]:
    """(S, S) bool masks "brows", "lips", "mouth" (the line between the lips), "iris" and
    "pupil" of a UV atlas. rest: (V, 3) rest-pose vertices (world); position: (S, S, 3) the
    atlas's rest-pose position per texel; part: (S, S) its part label."""
    import cv2

    from humanmv.body.face_landmarks import LandmarkMap

    pts = rest[LandmarkMap.load().vertex_index].double()  # (478, 3)
    lo = pts[:, :2].min(0).values - 0.01
    size = ((pts[:, :2].max(0).values + 0.01 - lo) / RES).ceil().long().tolist()

    def cells(xy: torch.Tensor) -> np.ndarray:
        return ((xy - lo) / RES).round().numpy().astype(np.int32)

    def raster(polys: list[list[int]], outline: bool = False, thick: int = 1) -> np.ndarray:
        img = np.zeros((size[1], size[0]), np.uint8)
        shapes = [cells(pts[p, :2]) for p in polys]
        if outline:
            cv2.polylines(img, shapes, True, 1, thickness=thick)
        else:
            cv2.fillPoly(img, shapes, 1)
            cv2.polylines(img, shapes, True, 1, thickness=thick)  # brows and lips a little fuller
        return img

    face_front = float(pts[:, 2].min())
    head = (part == head_label) & (position[..., 2] > face_front)
    idx = torch.from_numpy(cells(position[..., :2].double().reshape(-1, 2))).reshape(*part.shape, 2)
    inside = (idx[..., 0] >= 0) & (idx[..., 0] < size[0]) & (idx[..., 1] >= 0) & (idx[..., 1] < size[1])
    ix, iy = idx[..., 0].clamp(0, size[0] - 1), idx[..., 1].clamp(0, size[1] - 1)

    def lookup(img: np.ndarray) -> torch.Tensor:
        return head & inside & torch.from_numpy(img.astype(bool))[iy, ix]

    out = {"brows": lookup(raster(list(BROWS), thick=5)), "lips": lookup(raster([LIPS_OUTER], thick=3)),
           "mouth": lookup(raster([LIPS_INNER], outline=True, thick=3))}
    # Irises: discs in the (x, y) plane on the front of each eyeball.
    eyes = part == eyes_label
    iris = torch.zeros_like(eyes)
    pupil = torch.zeros_like(eyes)
    for c in IRIS_CENTRES:
        centre = pts[c]
        same_eye = eyes & (torch.sign(position[..., 0]) == torch.sign(centre[0].float()))
        front = position[..., 2] > float(centre[2]) - 0.006
        r = (position[..., :2].double() - centre[:2]).norm(dim=-1)
        iris |= same_eye & front & (r < IRIS_RADIUS)
        pupil |= same_eye & front & (r < PUPIL_RADIUS)
    out["iris"], out["pupil"] = iris, pupil
    return out
