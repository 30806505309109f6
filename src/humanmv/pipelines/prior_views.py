"""The prior's views of a synthetic subject, fitted to its input view alone: the conditions
mvdiff trains on (`data.mvdiff_pairs`) and the way the bench runs the prior and mvdiff on a
synthetic subject.

    ROOT/prior/<subject>/   subject format (data.format): rgb, normal, mask, depth at every
                            camera of the subject (rig + "input"), cameras in the FIT's frame
    ROOT/prior/failed.json  subjects the prior could not fit, with the reason
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from humanmv.data.format import SubjectViews, finished_subjects, read_subject, write_subject
from humanmv.errors import ConfigError, HumanMVError
from humanmv.io.atomic import atomic_write_text
from humanmv.models.inputs import view_tensors


def prior_views_for_subject(prior, gt: SubjectViews, name: str, cameras=None):
    """Run the prior on a synthetic subject's input view (the last view) and render it at
    `cameras` (default: every camera of the subject), carried into the fit's frame through the
    input camera (`cameras.align_to_fit`). Returns the prior's GenerationResult (fit, subject,
    views)."""
    from humanmv.cameras import align_to_fit
    from humanmv.io.images import LoadedImage

    inp = len(gt.cameras) - 1
    on_white = view_tensors(gt.rgb[inp:], gt.mask[inp:])[0, :3].permute(1, 2, 0)
    image = LoadedImage((on_white * 255).round().byte().numpy(), None, Path(f"{name}.png"))
    fit = prior.fitter(image, mode="auto")
    fitted, true = fit.photo_render["depth"], gt.depth[inp]
    if not bool((fitted > 0).any()) or not bool((true > 0).any()):
        raise ConfigError(f"{name}: no depth for the input view; cannot place the fit in the subject's frame")
    cams = align_to_fit(cameras if cameras is not None else gt.cameras, gt.cameras[[inp]], fit.fit.camera,
                        gt_depth=float(true[true > 0].median()), fit_depth=float(fitted[fitted > 0].median()))
    return prior(image, cameras=cams, photo_fit=fit)


def prepare_prior_views(root: Path, progress: Callable[[int, int], None] | None = None,
                        split: str | None = None, texture_size: int = 512) -> int:
    """Fit the prior to every subject's input view and store its views under ROOT/prior/
    (resumable: finished subjects are skipped). Returns how many subjects were prepared now."""
    from humanmv.pipelines.prior import PriorPipeline

    root = Path(root)
    names = finished_subjects(root, split)
    if not names:
        raise ConfigError(f"{root}: no finished subjects; write some with `humanmv synth --out {root}`")
    out = root / "prior"
    out.mkdir(exist_ok=True)
    failed_path = out / "failed.json"
    failed = json.loads(failed_path.read_text()) if failed_path.is_file() else {}
    todo = [n for n in names if not (out / n / "meta.json").is_file() and n not in failed]
    prior = PriorPipeline(texture_size=texture_size) if todo else None
    done = 0
    for i, name in enumerate(names):
        if name in todo:
            gt = read_subject(root / "subjects" / name, layers=("rgb", "mask", "depth"))
            try:
                result = prior_views_for_subject(prior, gt, name)
                fit, views = result.fit, result.views
            except HumanMVError as err:  # a subject the prior cannot fit is skipped, and said why
                failed[name] = str(err).splitlines()[0]
                atomic_write_text(failed_path, json.dumps(failed, indent=1))
                continue
            tmp = out / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            meta = {"silhouette_iou": fit.silhouette_iou, "mode": fit.fit.mode}
            write_subject(tmp, SubjectViews(views.cameras, views.rgb, views.mask, views.normal, views.depth, meta=meta))
            os.replace(tmp, out / name)
            done += 1
        if progress:
            progress(i + 1, len(names))
    return done
