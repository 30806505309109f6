"""`humanmv bench --real DIR`: real photos without ground truth.

Each photo goes through the method's own full pipeline (`predictor.photo`: a generator runs
as `humanmv generate` runs it, with `views` orbit views of `size` pixels). Reported per method: success rate
(with each failure's one-line reason), seconds per photo, face identity of the generated views
against the photo (I2OID, O2OID, Re-ID on face-visible views), view consistency, CLIP similarity
(with weights) and pose accuracy: PCK@0.1 of the keypoints detected in the method's view at the
photo's camera against the keypoints detected in the photo (the same mediapipe detector on
both; joints the photo's detection is not confident about are not scored); for generators, the
hue drift of each body part against the photo's colours for that part and the share of the
views' silhouette outside the refitted body (`real_checks`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from humanmv.errors import ConfigError
from humanmv.eval.bench import Bench, SubjectResult, _one_line, score_views
from humanmv.eval.identity_metrics import face_embeddings, to_uint8_rgb
from humanmv.views import channels_first, channels_last
from humanmv.eval.pose_metrics import mask_boxes, pck
from humanmv.eval.real_checks import part_hue_drift, silhouette_outside_body
from humanmv.perception.keypoints import COCO_FROM_MEDIAPIPE

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def photo_paths(folder: Path, limit: int = 0) -> list[Path]:
    """The photos in `folder` (by suffix, sorted by name); ConfigError if there are none."""
    if not folder.is_dir():
        raise ConfigError(f"--real {folder}: not a folder; give a folder of photos of people")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    paths = paths[:limit] if limit > 0 else paths
    if not paths:
        raise ConfigError(f"--real {folder}: no photos ({', '.join(PHOTO_SUFFIXES)}) in it")
    return paths


def _photo_pck(estimator, photo, render, render_mask) -> dict | None:
    """{"correct", "total"} of PCK@0.1 for one photo; None when no pose is found in the photo."""
    ref = estimator.detect(to_uint8_rgb(photo))
    if ref is None:
        return None
    gt_xy, gt_conf = ref.keypoints.coco()
    k = len(gt_xy)
    pred_xy, pred_conf = np.full((k, 2), np.nan), np.zeros(k)
    det = estimator.detect(to_uint8_rgb(render))
    if det is not None:
        pred_xy, pred_conf = det.keypoints.coco()
    visible = (np.asarray(gt_conf) >= 0.5) & (COCO_FROM_MEDIAPIPE >= 0)
    res = pck(pred_xy[None], gt_xy[None], visible[None], np.asarray(pred_conf)[None], alpha=0.1,
              boxes=mask_boxes(render_mask[None]))
    return {"correct": res.correct, "total": res.total}


def run_photos(bench: Bench, paths: list[Path], views: int = 16, size: int = 256, progress=None,
               figure_photos: int = 4) -> tuple[list[SubjectResult], dict]:
    """Every method of `bench` on every photo: (results, figure inputs for
    `report.comparison_figure`). A photo a method fails on is a result with the error's one
    line. progress: optional callable(done, total)."""
    import torch

    from humanmv.io.images import load_image
    from humanmv.perception.keypoints import PoseEstimator

    estimator = PoseEstimator()
    out: list[SubjectResult] = []
    inputs: dict = {}
    for k, path in enumerate(paths):
        if progress is not None:
            progress(k, len(paths))
        try:
            image = load_image(path)
        except Exception as err:  # an unreadable photo fails every method, with its reason
            out += [SubjectResult(path.name, m, 0.0, [], [], [], [], error=_one_line(err)) for m in bench.methods]
            continue
        photo = channels_first(torch.from_numpy(image.rgb.copy()).float() / 255)
        input_face = face_embeddings(bench.identifier, photo[None], "photo")[0]
        input_clip = bench.nets.clip_embeddings(photo[None])
        for method in bench.methods:
            t = time.perf_counter()
            try:
                got = bench.predictors[method].photo(image, views, size)
            except Exception as err:  # a failure is a result: the success rate counts it
                out.append(SubjectResult(path.name, method, 0.0, [], [], [], [], error=_one_line(err)))
                continue
            seconds = time.perf_counter() - t
            pred = got.views
            v = channels_first(pred.on_white())
            r = SubjectResult(path.name, method, seconds, pred.cameras.az.tolist(), [], [], [], views=channels_last(v))
            score_views(r, pred, v, pred.cameras, bench.nets, bench.identifier, input_face, input_clip)
            m = got.photo_mask[..., None]
            at_photo = channels_first(got.photo_rgb * m + (1 - m))
            r.pck = _photo_pck(estimator, photo, at_photo, got.photo_mask)
            if got.body_labels is not None:
                r.hue_drift = part_hue_drift(channels_last(photo), (got.photo_labels >= 0).float(), got.photo_labels,
                                             pred.rgb, pred.mask, got.body_labels)
                r.outside_body = silhouette_outside_body(pred.mask, got.body_mask)
            out.append(r)
        if len(inputs) < figure_photos and any(r.subject == path.name and r.views is not None for r in out):
            inputs[path.name] = (channels_last(photo), None)  # the figure shows the first photos that worked
    if progress is not None:
        progress(len(paths), len(paths))
    return out, inputs
