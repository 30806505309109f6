"""Generations on synthetic subjects, fitted to their input view alone: the way the bench runs
a method on a subject (`generate_for_subject`), and the prior's views stored as the
conditions mvdiff trains on (`prepare_prior_views`, read by `data.mvdiff_pairs`).

    ROOT/prior/<subject>/   subject format (data.format): rgb, normal, mask, depth at every
                            camera of the subject (rig + "input"), cameras in the FIT's frame
    ROOT/prior/failed.json  subjects the prior could not fit, with the reason
    ROOT/prior-head/        the same, the input fitted in head mode (`prior_folder(root, "head")`)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from humanmv.cameras import Cameras
from humanmv.data.format import finished_subjects, read_subject, write_subject
from humanmv.errors import ConfigError, HumanMVError
from humanmv.io.atomic import atomic_write_text
from humanmv.io.images import LoadedImage
from humanmv.pipelines.fitting import PhotoFit
from humanmv.views import Views


PRIOR_FOLDERS = {"auto": "prior", "head": "prior-head"}


def prior_folder(root: str | os.PathLike[str], mode: str = "auto") -> Path:
    """Where `prepare_prior_views(root, ..., mode=mode)` stores the prior's views."""
    assert mode in PRIOR_FOLDERS, mode
    return Path(root) / PRIOR_FOLDERS[mode]


def fit_input_view(studio, gt: Views, name: str, cameras: Cameras | None = None,
                   mode: str = "auto") -> tuple[LoadedImage, PhotoFit, Cameras]:
    """Fit a synthetic subject's input view (its last view) as a photo in `mode` (auto, body,
    head) and carry `cameras` (default: every camera of the subject) into the fit's frame
    through the input camera (`cameras.align_to_fit`). Returns (the input as a photo, its fit,
    the carried cameras)."""
    from humanmv.cameras import align_to_fit

    inp = len(gt.cameras) - 1
    on_white = gt[inp].on_white()[0]
    image = LoadedImage((on_white * 255).round().byte().numpy(), None, Path(f"{name}.png"))
    fit = studio.fitter(image, mode=mode)
    fitted, true = fit.photo_render["depth"], gt.depth[inp]
    if not bool((fitted > 0).any()) or not bool((true > 0).any()):
        raise ConfigError(f"{name}: no depth for the input view; cannot place the fit in the subject's frame")
    cams = align_to_fit(cameras if cameras is not None else gt.cameras, gt.cameras[[inp]], fit.fit.camera,
                        gt_depth=float(true[true > 0].median()), fit_depth=float(fitted[fitted > 0].median()))
    return image, fit, cams


def generate_for_subject(studio, gt: Views, name: str, choice="prior",
                         cameras: Cameras | None = None, seed: int = 0, mode: str = "auto"):
    """A generation from a synthetic subject's input view (fitted in `mode`), at `cameras`
    (default: every camera of the subject) carried into the fit's frame: the way the bench
    scores a method on a subject. choice: a generator name or a `generators.GeneratorChoice`.
    Returns the `studio.GenerationResult`."""
    image, fit, cams = fit_input_view(studio, gt, name, cameras, mode)
    return studio.generate(image, choice, cameras=cams, photo_fit=fit, seed=seed)


def prepare_prior_views(root: Path, make_studio: Callable[[], Any], progress: Callable[[int, int], None] | None = None,
                        split: str | None = None, mode: str = "auto", names: list[str] | None = None) -> int:
    """Fit the prior to every subject's input view (in `mode`: "auto" or "head") and store its
    views under `prior_folder(root, mode)` (resumable: finished subjects are skipped).
    `make_studio()` gives the `humanmv.Studio` to run it with (called only when there is work).
    names: only these finished subjects (default: every one of `split`).
    Returns how many subjects were prepared now."""
    root = Path(root)
    finished = finished_subjects(root, split)
    if names is not None:
        wanted = set(names)
        finished = [n for n in finished if n in wanted]
    names = finished
    if not names:
        raise ConfigError(f"{root}: no finished subjects; write some with `humanmv synth --out {root}`")
    out = prior_folder(root, mode)
    out.mkdir(exist_ok=True)
    failed_path = out / "failed.json"
    failed = json.loads(failed_path.read_text()) if failed_path.is_file() else {}
    todo = [n for n in names if not (out / n / "meta.json").is_file() and n not in failed]
    studio = make_studio() if todo else None
    done = 0
    for i, name in enumerate(names):
        if name in todo:
            gt = read_subject(root / "subjects" / name, layers=("rgb", "mask", "depth"))
            try:
                result = generate_for_subject(studio, gt, name, "prior", mode=mode)
                fit, views = result.fit, result.views
            except HumanMVError as err:  # a subject the prior cannot fit is skipped, and said why
                failed[name] = str(err).splitlines()[0]
                atomic_write_text(failed_path, json.dumps(failed, indent=1))
                continue
            tmp = out / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            meta = {"silhouette_iou": fit.silhouette_iou, "mode": fit.fit.mode}
            write_subject(tmp, views.replace(meta=meta))
            os.replace(tmp, out / name)
            done += 1
        if progress:
            progress(i + 1, len(names))
    return done

