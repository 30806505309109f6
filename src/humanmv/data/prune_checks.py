"""The two per-subject checks of dataset pruning (Gen3D-Face's data pruning), with dlib:
Janus views (`janus_filter`: a face on a view of the subject's back) and identity consistency
(`identity_consistency`: mean pairwise cosine of the front-half views' face embeddings).
`data.prune.prune_dataset` applies them to a dataset. az comes from `cameras.json`; where it
is null it is computed from the camera position (`view_azimuths`)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from humanmv.cameras import Cameras
from humanmv.data.format import read_subject

BACK_AZ_DEG = 120.0
"""Views with |az| above this look at the subject's back."""
FRONT_AZ_DEG = 90.0
"""Views with |az| up to this see the face (used for identity consistency)."""
JANUS_MIN_SCORE = 0.3
"""HOG detections at or above this score count as a face (real faces score ~1-2; the stray
detections on clothes and hair seen on the example photos score ~0.1)."""


# ---- helpers ------------------------------------------------------------------------------
def view_azimuths(cameras: Cameras) -> np.ndarray:
    """(C,) azimuths in degrees within [-180, 180): `cameras.az` where set, else computed from
    the camera position about the world Y axis (from the viewing direction for a camera on the
    axis itself)."""
    az = cameras.az.detach().double().cpu().numpy().copy()
    missing = ~np.isfinite(az)
    if missing.any():
        centres = cameras.centers.detach().double().cpu().numpy()
        forward = cameras.world_to_cam[:, 2, :3].detach().double().cpu().numpy()
        for i in np.nonzero(missing)[0]:
            x, z = centres[i, 0], centres[i, 2]
            if math.hypot(x, z) < 1e-6:
                x, z = -forward[i, 0], -forward[i, 2]
            az[i] = math.degrees(math.atan2(x, z))
    return (az + 180.0) % 360.0 - 180.0


def _uint8(rgb) -> np.ndarray:
    return (rgb.clamp(0, 1) * 255).round().byte().numpy()


def _load_views(folder: Path, cams: Cameras, indices: list[int]) -> list[np.ndarray]:
    """RGB uint8 images of the views `indices` (background black)."""
    if not indices:
        return []
    views = read_subject(folder, layers=("rgb",), views=indices)
    return [_uint8(views.rgb[k]) for k in range(len(indices))]


def identifier_or_default(identifier):
    """`identifier`, or a new dlib FaceIdentifier when None."""
    if identifier is None:
        from humanmv.perception.identity import FaceIdentifier

        identifier = FaceIdentifier()
    return identifier


# ---- the two filters ----------------------------------------------------------------------
@dataclass
class JanusView:
    """A back view with a face on it: view name, az (degrees), HOG score, box (x0, y0, x1, y1)."""

    view: str
    az: float
    score: float
    box: list[float]


@dataclass
class JanusCheck:
    """`janus_filter`'s result: the back views checked and the flagged ones."""

    subject: str
    back_views: list[str]
    flagged: list[JanusView] = field(default_factory=list)
    note: str | None = None


def janus_filter(subject_dir: str | os.PathLike[str], identifier=None,
                 min_score: float = JANUS_MIN_SCORE, back_az: float = BACK_AZ_DEG) -> JanusCheck:
    """Flag the back views (|az| > `back_az`) of one subject on which dlib's HOG detector finds
    a face scoring at least `min_score`.

    Args:
        subject_dir: a subject folder (cameras.json + rgb/).
        identifier: a `humanmv.perception.identity.FaceIdentifier` (one is made if None).
    Returns:
        JanusCheck(back_views checked, flagged views with az, score and face box).
    Raises:
        ConfigError when the subject's cameras.json or a view file is missing or invalid.
    """
    folder = Path(subject_dir)
    cams = Cameras.load(folder / "cameras.json")
    az = view_azimuths(cams)
    back = [i for i in range(len(cams)) if abs(az[i]) > back_az]
    check = JanusCheck(subject=folder.name, back_views=[cams.names[i] for i in back])
    if not (folder / "rgb").is_dir():
        check.note = "no rgb layer: nothing to check"
        return check
    identifier = identifier_or_default(identifier)
    for i, rgb in zip(back, _load_views(folder, cams, back)):
        faces = [f for f in identifier.detect(rgb) if f[1] >= min_score]
        if faces:
            box, score = max(faces, key=lambda f: f[1])
            check.flagged.append(JanusView(cams.names[i], round(float(az[i]), 2), round(float(score), 3),
                                           [float(v) for v in box]))
    return check


@dataclass
class IdentityScore:
    """`identity_consistency`'s result. score: mean pairwise cosine similarity of the face
    embeddings (None with fewer than 2 face views); mean_distance: their mean pairwise
    Euclidean distance (dlib: < 0.6 is the same person); face_views / no_face_views: the
    front-half views with and without a face found."""

    subject: str
    score: float | None
    face_views: list[str]
    no_face_views: list[str]
    mean_distance: float | None = None
    note: str | None = None


def identity_consistency(subject_dir: str | os.PathLike[str], identifier=None,
                         front_az: float = FRONT_AZ_DEG, exclude: tuple[str, ...] | list[str] = (),
                         min_score: float = JANUS_MIN_SCORE) -> IdentityScore:
    """Mean pairwise cosine similarity of dlib's face embeddings over the subject's front-half
    views (|az| <= `front_az`), leaving out the views named in `exclude`. On each view the
    best-scoring HOG face (score >= `min_score`) is embedded.

    Raises ConfigError when the subject's cameras.json or a view file is missing or invalid.
    """
    folder = Path(subject_dir)
    cams = Cameras.load(folder / "cameras.json")
    az = view_azimuths(cams)
    skip = set(exclude)
    front = [i for i in range(len(cams)) if abs(az[i]) <= front_az and cams.names[i] not in skip]
    if not (folder / "rgb").is_dir():
        return IdentityScore(folder.name, None, [], [cams.names[i] for i in front],
                             note="no rgb layer: no identity score")
    identifier = identifier_or_default(identifier)
    embeddings, with_face, without = [], [], []
    for i, rgb in zip(front, _load_views(folder, cams, front)):
        # The best-scoring face (not the largest box: weak detections on clothes can be larger).
        faces = [f for f in identifier.detect(rgb) if f[1] >= min_score]
        face = None
        if faces:
            box = max(faces, key=lambda f: f[1])[0]
            face = identifier.identify(rgb, near_box=box, name=f"{folder.name}/{cams.names[i]}")
        if face is None:
            without.append(cams.names[i])
        else:
            embeddings.append(face.embedding.astype(np.float64))
            with_face.append(cams.names[i])
    if len(embeddings) < 2:
        return IdentityScore(folder.name, None, with_face, without,
                             note=f"{len(embeddings)} face view(s) of {len(front)} front views: "
                                  "fewer than 2, no identity score; kept")
    E = np.stack(embeddings)
    unit = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    iu = np.triu_indices(len(E), k=1)
    cosine = (unit @ unit.T)[iu]
    distance = np.linalg.norm(E[:, None] - E[None], axis=-1)[iu]
    return IdentityScore(folder.name, round(float(cosine.mean()), 5), with_face, without,
                         round(float(distance.mean()), 5))


