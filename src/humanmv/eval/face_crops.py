"""Face crops scored against ground truth: the yardstick of the face stage (seed 000, stage 2).

A synthetic subject's meta.json holds its body, so the face's place in every ground-truth view
is known (`body.face_regions`: the face seen up to 100 degrees off its axis, a square box, a mask
with the body as occluder). Each view where the ground-truth face is visible is cut to that box
in both the method's view and the ground truth (the same cameras: the bench carries the fit into
the ground-truth frame) at FACE_CROP_SIZE, and scored with PSNR, SSIM and ST-LPIPS. No face
detector is involved, so the face stage (which dlib conditions) is not judged by dlib here; a
method that draws no face where the face should be scores low rather than being left out.

The acceptance rows of the face stage read the side views, SIDE_RANGE = 30..90 degrees of
azimuth either way, where the photo sees the face poorly and the prior stretches it.
"""

from __future__ import annotations

import torch

from humanmv.cameras import Cameras
from humanmv.eval.image_metrics import psnr, ssim

FACE_CROP_SIZE = 64
SIDE_RANGE = (30.0, 90.0)


def folded_azimuth(az: float) -> float:
    """|az| folded into 0..180 degrees (0 = the front)."""
    return abs(((az + 180) % 360) - 180)


def in_side_range(az: float) -> bool:
    return SIDE_RANGE[0] <= folded_azimuth(az) <= SIDE_RANGE[1]


def subject_face_regions(body, renderer, meta: dict, cameras: Cameras):
    """`FaceRegions` of a synthetic subject's body (meta["body"]) in `cameras`, None when the
    subject's meta has no body (an imported scan)."""
    from humanmv.body.anny_model import BodyParams
    from humanmv.body.face_regions import face_regions

    if "body" not in meta:
        return None
    params = BodyParams.from_dict(meta["body"], body.expression_names)
    with torch.no_grad():
        vertices = body(params).vertices[0]
    return face_regions(body, vertices, cameras, renderer)


def face_crop_scores(regions, pred: torch.Tensor, target: torch.Tensor, st_lpips=None,
                     size: int = FACE_CROP_SIZE) -> dict[str, list[float | None] | None]:
    """Per view (None where the face is not visible): "psnr", "ssim" and, with an ST-LPIPS
    model, "st_lpips" of the face crops. pred, target: [C, 3, H, W] in [0, 1] on white."""
    C = pred.shape[0]
    assert target.shape == pred.shape and regions.masks.shape == (C, *pred.shape[2:]), (pred.shape, target.shape)
    out: dict[str, list[float | None] | None] = {"psnr": [None] * C, "ssim": [None] * C,
                                                  "st_lpips": [None] * C if st_lpips is not None else None}
    index = regions.indices
    if not index:
        return out
    a = regions.crop(pred.permute(0, 2, 3, 1), size).permute(0, 3, 1, 2).clamp(0, 1)
    b = regions.crop(target.permute(0, 2, 3, 1), size).permute(0, 3, 1, 2).clamp(0, 1)
    values = {"psnr": psnr(a, b).clamp_max(100.0).tolist(), "ssim": ssim(a, b).tolist()}
    if st_lpips is not None:
        from humanmv.eval.lpips import lpips_distance

        values["st_lpips"] = lpips_distance(st_lpips, a, b).tolist()
    for name, scores in values.items():
        for i, v in zip(index, scores):
            out[name][i] = float(v)
    return out


__all__ = ["FACE_CROP_SIZE", "SIDE_RANGE", "face_crop_scores", "folded_azimuth", "in_side_range",
           "subject_face_regions"]
