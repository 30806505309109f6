"""`humanmv bench`: give each held-out subject's input view to a method, predict every
ground-truth view, and score (issue 5, first version: image metrics, all and back views).

Methods:
    copy-input  the input photo as every view (the trivial baseline);
    prior       the built-in pipeline, with the ground-truth target cameras carried into the
                fit's frame through the input camera (see `align_cameras`).
Images are composited on white before scoring, as a viewer sees them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humanmv.cameras import Cameras
from humanmv.data.format import SubjectViews, read_subject
from humanmv.errors import ConfigError
from humanmv.eval.image_metrics import mask_iou, psnr, ssim

METHODS = ("copy-input", "prior")


def align_cameras(targets: Cameras, input_gt: Cameras, input_fit: Cameras, depth_ratio: float) -> Cameras:
    """Target cameras of the ground-truth frame, expressed in the fit's frame.

    The fit knows the subject only up to a similarity, so the targets keep their pose relative
    to the input camera: p_target = R_T R_g^T (k (R_f p + t_f) - t_g) + t_T, with k the ratio
    of the subject's ground-truth depth to its fitted depth in the input view. Dividing by k
    leaves the projection unchanged and gives a rigid world-to-camera.
    """
    Rf, tf = input_fit.world_to_cam[0, :3, :3], input_fit.world_to_cam[0, :3, 3]
    Rg, tg = input_gt.world_to_cam[0, :3, :3], input_gt.world_to_cam[0, :3, 3]
    k = depth_ratio
    w2c = targets.world_to_cam.clone()
    RT, tT = w2c[:, :3, :3].clone(), w2c[:, :3, 3].clone()
    w2c[:, :3, :3] = RT @ Rg.T @ Rf
    w2c[:, :3, 3] = ((RT @ (Rg.T @ (k * tf - tg))) + tT) / k
    return Cameras(targets.K.clone(), w2c, targets.width, targets.height, list(targets.names),
                   targets.az.clone(), targets.el.clone())


def _on_white(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(C, H, W, 3), (C, H, W) -> (C, 3, H, W) composited on white."""
    return (rgb * mask[..., None] + (1 - mask[..., None])).permute(0, 3, 1, 2)


@dataclass
class SubjectResult:
    subject: str
    method: str
    seconds: float
    az: list[float]
    psnr: list[float]
    ssim: list[float]
    iou: list[float]
    error: str | None = None
    views: torch.Tensor | None = field(default=None, repr=False)  # (C, H, W, 3) on white


class Bench:
    """Runs methods on subject folders. Build once (the prior loads its models here)."""

    def __init__(self, methods: list[str]) -> None:
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"unknown --method {unknown[0]!r}; available: {', '.join(METHODS)}")
        self.methods = methods
        self.prior = None
        if "prior" in methods:
            from humanmv.pipelines.prior import PriorPipeline

            self.prior = PriorPipeline(texture_size=512)

    def predict(self, method: str, gt: SubjectViews, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, H, W, 3) rgb and (C, H, W) mask for the rig views of `gt` (last view = input)."""
        rig, inp = gt.cameras[list(range(len(gt.cameras) - 1))], len(gt.cameras) - 1
        if method == "copy-input":
            C = len(rig)
            return gt.rgb[inp].expand(C, -1, -1, -1).clone(), gt.mask[inp].expand(C, -1, -1).clone()
        from humanmv.io.images import LoadedImage

        photo = _on_white(gt.rgb[inp:], gt.mask[inp:])[0].permute(1, 2, 0)
        image = LoadedImage((photo * 255).round().byte().numpy(), None, Path(f"{name}.png"))
        fit = self.prior.fitter(image, mode="auto")
        fitted = fit.photo_render["depth"]
        gt_depth = gt.depth[inp] if gt.depth is not None else None
        if gt_depth is not None and bool((fitted > 0).any()) and bool((gt_depth > 0).any()):
            k = float(gt_depth[gt_depth > 0].median() / fitted[fitted > 0].median())
        else:
            k = 1.0
        cams = align_cameras(rig, gt.cameras[[inp]], fit.fit.camera, k)
        result = self.prior(image, cameras=cams, photo_fit=fit)
        return result.views.rgb, result.views.mask

    def run_subject(self, folder: Path, method: str) -> SubjectResult:
        gt = read_subject(folder, layers=("rgb", "mask", "depth"))
        if gt.cameras.names[-1] != "input":
            raise ConfigError(f"{folder}: the last view must be the 'input' view (a humanmv synth subject)")
        t = time.perf_counter()
        try:
            rgb, mask = self.predict(method, gt, folder.name)
        except Exception as err:  # a method failing on a subject is a result, not a crash
            return SubjectResult(folder.name, method, 0.0, [], [], [], [], error=str(err).splitlines()[0])
        seconds = time.perf_counter() - t
        C = len(gt.cameras) - 1
        target = _on_white(gt.rgb[:C], gt.mask[:C])
        pred = _on_white(rgb, mask)
        return SubjectResult(folder.name, method, seconds, gt.cameras.az[:C].tolist(),
                             psnr(pred, target).tolist(), ssim(pred, target).tolist(),
                             mask_iou(mask, gt.mask[:C]).tolist(), views=pred.permute(0, 2, 3, 1))


def summarise(results: list[SubjectResult]) -> dict:
    """Per method: mean and 95% interval (normal approximation over subjects) of PSNR, SSIM and
    IoU, for all views and for back views (|az| > 90 deg, as seed 003 splits them)."""
    out: dict = {}
    for method in sorted({r.method for r in results}):
        rows = [r for r in results if r.method == method and r.error is None]
        entry = {"subjects": len(rows), "failed": sum(r.method == method and r.error is not None for r in results)}
        for part, keep in (("all", lambda a: True), ("back", lambda a: abs(((a + 180) % 360) - 180) > 90)):
            for metric in ("psnr", "ssim", "iou"):
                per_subject = [np.mean([v for v, a in zip(getattr(r, metric), r.az) if keep(a)]) for r in rows]
                per_subject = [v for v in per_subject if np.isfinite(v)]
                if per_subject:
                    mean = float(np.mean(per_subject))
                    half = 1.96 * float(np.std(per_subject, ddof=1)) / math.sqrt(len(per_subject)) if len(per_subject) > 1 else float("nan")
                    entry[f"{part}_{metric}"] = {"mean": round(mean, 4), "ci95": round(half, 4)}
        entry["seconds_per_subject"] = round(float(np.mean([r.seconds for r in rows])), 3) if rows else None
        out[method] = entry
    return out


def results_markdown(summary: dict) -> str:
    head = "| method | subjects | PSNR all | SSIM all | IoU all | PSNR back | SSIM back | IoU back | s/subject |\n"
    head += "|---|---|---|---|---|---|---|---|---|\n"
    cell = lambda e, k: f"{e[k]['mean']:.3f} ± {e[k]['ci95']:.3f}" if k in e else "n/a"  # noqa: E731
    for method, e in summary.items():
        head += (f"| {method} | {e['subjects']} | {cell(e, 'all_psnr')} | {cell(e, 'all_ssim')} | {cell(e, 'all_iou')} | "
                 f"{cell(e, 'back_psnr')} | {cell(e, 'back_ssim')} | {cell(e, 'back_iou')} | {e['seconds_per_subject']} |\n")
    return head


def comparison_figure(results: list[SubjectResult], split: Path, subjects: int = 4,
                      views: int = 4) -> np.ndarray:
    """Rows of (input | ground truth at `views` azimuths | each method at the same views) for the
    first `subjects` subjects: (H', W', 3) uint8."""
    from humanmv.io.grid import make_grid

    rows = []
    names = list(dict.fromkeys(r.subject for r in results))[:subjects]
    for name in names:
        gt = read_subject(split / "subjects" / name, layers=("rgb", "mask"))
        C = len(gt.cameras) - 1
        pick = [round(k * C / views) for k in range(views)]
        on_white = _on_white(gt.rgb, gt.mask).permute(0, 2, 3, 1)
        tiles = [on_white[C]] + [on_white[i] for i in pick]
        for r in results:
            if r.subject == name and r.views is not None:
                tiles += [r.views[i] for i in pick]
        rows.append(torch.stack(tiles))
    width = max(len(r) for r in rows)
    grid = torch.cat([torch.cat([r, torch.ones(width - len(r), *r.shape[1:])]) for r in rows])
    return make_grid((grid.clamp(0, 1) * 255).round().byte().numpy(), cols=width, pad=2)


def write_results(out: Path, results: list[SubjectResult], split: Path | None = None) -> dict:
    """results.json, results.md and (with `split`) comparison.png into `out`."""
    summary = summarise(results)
    if split is not None and any(r.views is not None for r in results):
        from humanmv.io.images import save_png

        save_png(out / "comparison.png", comparison_figure(results, split))
    per = [{k: v for k, v in r.__dict__.items() if k != "views"} for r in results]
    (out / "results.json").write_text(json.dumps({"summary": summary, "subjects": per}, indent=1))
    (out / "results.md").write_text(results_markdown(summary))
    return summary
