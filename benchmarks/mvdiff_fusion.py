"""Choose how mvdiff's views are fused into the avatar, on VALIDATION subjects (never the
benchmark's test split): for each subject the prior and the model run once at every rig camera,
then each fusion setting (photo trust, facing sharpness) is fused, re-rendered and scored
against the ground truth (PSNR / SSIM / IoU, all views and back views) and for consistency
(reprojection PSNR between neighbouring views with the prior's depth, inside the views' own
masks). The raw model views and the prior are scored the same way.

    .venv/bin/python benchmarks/mvdiff_fusion.py --data data/body-train [--split val] [--subjects 6] \
        [--photo-trust 1 4 16] [--sharpness 1 2 4 8]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch


def scores(rgb, mask, depth, cameras, gt_rgb, gt_mask, back) -> list[float]:
    from humanmv.eval.consistency import reprojection_psnr, ring_pairs
    from humanmv.eval.image_metrics import mask_iou, psnr, ssim
    from humanmv.eval.methods import on_white

    pred, target = on_white(rgb, mask), on_white(gt_rgb, gt_mask)
    p, s = psnr(pred, target), ssim(pred, target)
    reproj = [r for r in reprojection_psnr(rgb, depth, cameras, ring_pairs(cameras), mask=mask) if r is not None]
    return [float(p.mean()), float(s.mean()), float(mask_iou(mask, gt_mask).mean()), float(p[back].mean()),
            float(s[back].mean()), float(np.mean(reproj))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--photo-trust", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    parser.add_argument("--sharpness", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    args = parser.parse_args()

    from humanmv.data.format import read_subject
    from humanmv.pipelines.prior_views import prior_views_for_subject
    from humanmv.eval.bench import split_folders
    from humanmv.generators.mvdiff import MVDiffGenerator
    from humanmv.pipelines.prior import PriorPipeline
    from humanmv.recon import FusionConfig

    prior = PriorPipeline(texture_size=512)
    generator = MVDiffGenerator(prior.renderer, args.checkpoint, fuse=False, body=prior.body)
    refit_seconds: list[float] = []
    rows: dict = {}
    t0 = time.perf_counter()
    folders = split_folders(args.data, args.split, args.subjects)
    for folder in folders:
        gt = read_subject(folder, layers=("rgb", "mask", "depth"))
        rig = list(range(len(gt.cameras) - 1))
        back = torch.tensor([abs(((float(a) + 180) % 360) - 180) > 90 for a in gt.cameras.az[rig]])
        result = prior_views_for_subject(prior, gt, folder.name, cameras=gt.cameras[rig])
        v = result.views
        target = (gt.rgb[rig], gt.mask[rig], back)
        rows.setdefault("prior", []).append(scores(v.rgb, v.mask, v.depth, v.cameras, *target))
        raw = generator.refine(v, result.subject)
        rows.setdefault("mvdiff raw", []).append(scores(raw.rgb, raw.mask, raw.depth, raw.cameras, *target))
        t = time.perf_counter()
        refitted = generator.refit_avatar(raw, result.subject)
        refit_seconds.append(time.perf_counter() - t)
        for (label, avatar), trust, sharpness in itertools.product(
                (("fused", result.subject.avatar), ("refit + fused", refitted)), args.photo_trust, args.sharpness):
            generator.photo_trust, generator.fusion = trust, FusionConfig(sharpness=sharpness)
            out = generator.fuse_views(raw, result.subject, avatar)
            rows.setdefault(f"{label}, photo trust {trust:g}, sharpness {sharpness:g}", []).append(
                scores(out.rgb, out.mask, out.depth, out.cameras, *target))
    print(f"# {len(folders)} {args.split} subjects x {len(gt.cameras) - 1} views ({time.perf_counter() - t0:.0f} s; "
          f"refit {np.mean(refit_seconds):.1f} s per subject)")
    print("| setting | PSNR | SSIM | IoU | PSNR back | SSIM back | reprojection PSNR |\n|---|---|---|---|---|---|---|")
    for key, values in rows.items():
        m = np.mean(values, axis=0)
        print(f"| {key} | {m[0]:.3f} | {m[1]:.4f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.4f} | {m[5]:.1f} dB |")


if __name__ == "__main__":
    main()
