"""Face identity consistency of generated views, with dlib's 128-D face descriptor.

Metrics (Gen3D-Face, seed 001; DiffPortrait360, seed 003), all computed only on the views where
dlib finds a face; `IdentityScores` says how many views that was:
- I2OID: mean cosine similarity between the input photo's embedding and each generated view's.
- O2OID: mean cosine similarity over all pairs of generated views (needs two views with a face).
- Re-ID (match): fraction of views whose Euclidean embedding distance to the reference is below
  0.6 (dlib's / face_recognition's "same person" threshold); Re-ID (dist): the mean distance.
- CSIM: mean cosine similarity between each view and its reference.
The reference of view i is `reference_views[i]` when given (the ground-truth image at the same
camera, as in the papers' in-domain evaluation), otherwise the input photo (then CSIM = I2OID).

The papers use ArcFace embeddings; dlib's descriptor is a different network, so the numbers
measure the same thing but are not comparable with the papers' tables. dlib's embeddings are
not unit length: cosine normalises them, Re-ID uses the raw Euclidean distance as dlib intends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from humanmv.eval.availability import Metric
from humanmv.perception.identity import SAME_PERSON_DISTANCE, FaceIdentifier
from humanmv.views import channels_last

Embedding = np.ndarray  # (128,) float32


def to_uint8_rgb(image: Tensor | np.ndarray) -> np.ndarray:
    """One image as (H, W, 3) uint8 for dlib.

    image: (3, H, W) float tensor in [0, 1], or (H, W, 3) uint8 array (returned as is).
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
        return np.ascontiguousarray(image)
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image tensor, got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return np.ascontiguousarray(channels_last(arr).cpu().numpy())


def _images(images: Tensor | Sequence[Tensor | np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, Tensor):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (V, 3, H, W) views, got {tuple(images.shape)}")
        return [to_uint8_rgb(v) for v in images]
    return [to_uint8_rgb(v) for v in images]


HEAD_FRACTION = 1 / 7.5  # a standing adult's head height, as a fraction of body height


def head_box(mask: Tensor | np.ndarray) -> tuple[float, float, float, float] | None:
    """Where a standing person's head is, from the silhouette alone: (x0, y0, x1, y1), a square
    of side `HEAD_FRACTION` x the silhouette's height at its top, centred on the silhouette
    there; None for an empty mask. mask: (H, W) bool or float (> 0.5)."""
    m = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    ys, xs = np.nonzero(m > 0.5)
    if len(ys) == 0:
        return None
    top = int(ys.min())
    side = max((int(ys.max()) + 1 - top) * HEAD_FRACTION, 8.0)
    cx = float(xs[ys < top + side].mean()) + 0.5
    return (cx - side / 2, float(top), cx + side / 2, top + side)


def face_embeddings(
    identifier: FaceIdentifier,
    images: Tensor | Sequence[Tensor | np.ndarray],
    label: str = "view",
    masks: Tensor | Sequence[Tensor | np.ndarray] | None = None,
) -> list[Embedding | None]:
    """dlib embedding of the largest face in each image, None where no face is found.

    images: (V, 3, H, W) float in [0, 1], or a list of (3, H, W) tensors / (H, W, 3) uint8 arrays.
    label:  how log messages name the images ("view 3: 2 faces found, using the largest").
    masks:  optional (V, H, W) person masks. Where the whole image shows no face, the region of
            the head (`head_box`) is searched again, enlarged so the face is ~160 px (dlib's HOG
            misses faces under ~80 px, e.g. a whole body in a 256 px view).
    """
    out: list[Embedding | None] = []
    for i, rgb in enumerate(_images(images)):
        ident = identifier.identify(rgb, name=f"{label} {i}")
        box = head_box(masks[i]) if ident is None and masks is not None else None
        if box is not None:
            ident = identifier.identify(rgb, near_box=box, name=f"{label} {i}")
        out.append(None if ident is None else ident.embedding.astype(np.float32))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (float64 maths)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64) + 1e-12))


@dataclass
class IdentityScores:
    """Identity consistency of V generated views (see the module docstring for definitions).

    n_views:             V.
    n_views_with_face:   views where dlib found a face (the metrics use only these).
    input_has_face:      whether the input photo had a face (I2OID needs it).
    view_has_face:       (V,) bool.
    n_reference_pairs:   views compared with their reference for Re-ID / CSIM (both had a face).
    cos_to_input:        (V,) float64, cosine to the input, NaN where not computed.
    dist_to_reference:   (V,) float64, Euclidean distance to the reference, NaN where not computed.
    i2oid, o2oid, reid_match, reid_dist, csim: `Metric`s, unavailable with a reason when there
                         was nothing to compute them on.
    """

    n_views: int
    n_views_with_face: int
    input_has_face: bool
    view_has_face: list[bool]
    n_reference_pairs: int
    cos_to_input: np.ndarray
    dist_to_reference: np.ndarray
    i2oid: Metric
    o2oid: Metric
    reid_match: Metric
    reid_dist: Metric
    csim: Metric

    def metrics(self) -> list[Metric]:
        return [self.i2oid, self.o2oid, self.reid_match, self.reid_dist, self.csim]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: counts and the metrics (per-view arrays left out)."""
        return {
            "n_views": self.n_views,
            "n_views_with_face": self.n_views_with_face,
            "input_has_face": self.input_has_face,
            "n_reference_pairs": self.n_reference_pairs,
            **{m.name: m.to_dict() for m in self.metrics()},
        }


def identity_scores_from_embeddings(
    input_embedding: Embedding | None,
    view_embeddings: Sequence[Embedding | None],
    reference_embeddings: Sequence[Embedding | None] | None = None,
    threshold: float = SAME_PERSON_DISTANCE,
) -> IdentityScores:
    """`IdentityScores` from embeddings already computed (None = no face found).

    input_embedding:      (D,) or None.
    view_embeddings:      V entries, each (D,) or None.
    reference_embeddings: optional V entries (ground truth at each view's camera); default: the
                          input for every view.
    threshold:            Re-ID "same person" distance (dlib: 0.6).
    """
    v = len(view_embeddings)
    has = [e is not None for e in view_embeddings]
    faces = [np.asarray(e, np.float64) for e in view_embeddings if e is not None]
    n_faces = len(faces)
    no_views = f"no face detected in any of the {v} generated views"
    no_input = "no face detected in the input photo"

    cos_in = np.full(v, np.nan)
    if input_embedding is not None:
        for i, e in enumerate(view_embeddings):
            if e is not None:
                cos_in[i] = cosine(input_embedding, e)
    if input_embedding is None:
        i2oid = Metric.unavailable("I2OID", no_input)
    elif n_faces == 0:
        i2oid = Metric.unavailable("I2OID", no_views)
    else:
        i2oid = Metric.ok("I2OID", float(np.nanmean(cos_in)), count=n_faces)

    if n_faces >= 2:
        f = np.stack(faces)
        f = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)
        sims = f @ f.T
        iu = np.triu_indices(n_faces, k=1)
        o2oid = Metric.ok("O2OID", float(sims[iu].mean()), count=len(iu[0]))
    else:
        o2oid = Metric.unavailable(
            "O2OID", f"needs faces in at least 2 generated views, found {n_faces} of {v}"
        )

    if reference_embeddings is None:
        refs: Sequence[Embedding | None] = [input_embedding] * v
        ref_missing = no_input
    else:
        if len(reference_embeddings) != v:
            raise ValueError(f"{len(reference_embeddings)} reference embeddings for {v} views")
        refs = reference_embeddings
        ref_missing = "no view had a face both in it and in its reference image"
    dist = np.full(v, np.nan)
    csim_vals: list[float] = []
    for i, (e, r) in enumerate(zip(view_embeddings, refs)):
        if e is None or r is None:
            continue
        dist[i] = float(np.linalg.norm(np.asarray(e, np.float64) - np.asarray(r, np.float64)))
        csim_vals.append(cosine(r, e))
    pairs = len(csim_vals)
    if pairs == 0:
        reason = no_views if n_faces == 0 else ref_missing
        reid_match = Metric.unavailable("Re-ID match", reason)
        reid_dist = Metric.unavailable("Re-ID dist", reason)
        csim = Metric.unavailable("CSIM", reason)
    else:
        d = dist[~np.isnan(dist)]
        reid_match = Metric.ok("Re-ID match", float((d < threshold).mean()), count=pairs)
        reid_dist = Metric.ok("Re-ID dist", float(d.mean()), count=pairs)
        csim = Metric.ok("CSIM", float(np.mean(csim_vals)), count=pairs)

    return IdentityScores(
        n_views=v,
        n_views_with_face=n_faces,
        input_has_face=input_embedding is not None,
        view_has_face=has,
        n_reference_pairs=pairs,
        cos_to_input=cos_in,
        dist_to_reference=dist,
        i2oid=i2oid,
        o2oid=o2oid,
        reid_match=reid_match,
        reid_dist=reid_dist,
        csim=csim,
    )


def identity_scores(
    identifier: FaceIdentifier,
    input_image: Tensor | np.ndarray,
    views: Tensor | Sequence[Tensor | np.ndarray],
    reference_views: Tensor | Sequence[Tensor | np.ndarray] | None = None,
    threshold: float = SAME_PERSON_DISTANCE,
) -> IdentityScores:
    """Detect faces, embed them and score identity consistency.

    identifier:      a `FaceIdentifier` (its dlib models load once, on first use).
    input_image:     (3, H, W) float in [0, 1] or (H, W, 3) uint8: the photo the views came from.
    views:           (V, 3, H, W) float in [0, 1] (composite RGBA views over a background
                     first), or a list of single images.
    reference_views: optional ground-truth images, one per view, same formats.
    Costs ~0.1-0.2 s per image on 2 CPU cores (detection + landmarks + embedding).
    """
    inp = face_embeddings(identifier, [input_image], label="input photo")[0]
    emb = face_embeddings(identifier, views)
    refs = None if reference_views is None else face_embeddings(identifier, reference_views, "reference")
    return identity_scores_from_embeddings(inp, emb, refs, threshold)
