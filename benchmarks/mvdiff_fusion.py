"""Choose how mvdiff's views become 3D, on VALIDATION subjects (never the benchmark's test
split): for each subject the prior and the model run once at every rig camera, the body is
refitted once, then each fusion setting (photo trust, facing sharpness) is fused into the
unrefitted and the refitted avatar, re-rendered and scored against the ground truth (PSNR /
SSIM / IoU, all views and back views) and for consistency (reprojection PSNR between
neighbouring views with each method's own depth, inside the views' own masks). The raw model
views and the prior are scored the same way.

    .venv/bin/python benchmarks/mvdiff_fusion.py --data data/body-train [--split val] [--subjects 6] \\
        [--checkpoint RUN/final] [--photo-trust 1 4 16] [--sharpness 1 2 4 8]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch


def scores(views, gt, back) -> list[float]:
    from humanmv.eval.consistency import reprojection_psnr, ring_pairs
    from humanmv.eval.image_metrics import mask_iou, psnr, ssim
    from humanmv.views import channels_first

    pred, target = channels_first(views.on_white()), channels_first(gt.on_white())
    p, s = psnr(pred, target), ssim(pred, target)
    cams = views.cameras
    reproj = [r for r in reprojection_psnr(views.rgb, views.depth, cams, ring_pairs(cams), mask=views.mask)
              if r is not None]
    return [float(p.mean()), float(s.mean()), float(mask_iou(views.mask, gt.mask).mean()), float(p[back].mean()),
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
    from humanmv.eval.bench import split_folders
    from humanmv.generators import GeneratorChoice
    from humanmv.pipelines.prior_views import fit_input_view
    from humanmv.recon import Avatar, ReconstructOptions, fuse_into_avatar, refit_avatar
    from humanmv.studio import Studio

    studio = Studio(texture_size=512)
    raw_choice = GeneratorChoice.make("mvdiff", {"reconstruct": "none"}, checkpoint=args.checkpoint)
    refit_seconds: list[float] = []
    rows: dict = {}
    t0 = time.perf_counter()
    folders = split_folders(args.data, args.split, args.subjects)
    for folder in folders:
        gt = read_subject(folder, layers=("rgb", "mask", "depth"))
        rig = list(range(len(gt.cameras) - 1))
        truth = gt[rig]
        back = torch.tensor([abs(((float(a) + 180) % 360) - 180) > 90 for a in truth.cameras.az])
        image, fit, cams = fit_input_view(studio, gt, folder.name, truth.cameras)
        prior = studio.generate(image, "prior", cameras=cams, photo_fit=fit)
        rows.setdefault("prior", []).append(scores(prior.views, truth, back))
        raw = studio.generate(image, raw_choice, cameras=cams, photo_fit=fit)
        rows.setdefault("mvdiff raw", []).append(scores(raw.views, truth, back))
        subject = raw.subject
        t = time.perf_counter()
        _, refitted = refit_avatar(raw.views, subject, studio.body, ReconstructOptions())
        refit_seconds.append(time.perf_counter() - t)
        unrefitted = Avatar.of_fit(subject.mode, subject.avatar, subject.body_params)
        for (label, avatar), trust, sharpness in itertools.product(
                (("fused", unrefitted), ("refit + fused", refitted)), args.photo_trust, args.sharpness):
            options = ReconstructOptions(photo_trust=trust, sharpness=sharpness)
            _, out = fuse_into_avatar(raw.views, subject, avatar, studio.renderer, options, sources=raw.views)
            rows.setdefault(f"{label}, photo trust {trust:g}, sharpness {sharpness:g}", []).append(
                scores(out, truth, back))
    print(f"# {len(folders)} {args.split} subjects x {len(rig)} views ({time.perf_counter() - t0:.0f} s; "
          f"refit {np.mean(refit_seconds):.1f} s per subject)")
    print("| setting | PSNR | SSIM | IoU | PSNR back | SSIM back | reprojection PSNR |\n|---|---|---|---|---|---|---|")
    for key, values in rows.items():
        m = np.mean(values, axis=0)
        print(f"| {key} | {m[0]:.3f} | {m[1]:.4f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.4f} | {m[5]:.1f} dB |")


if __name__ == "__main__":
    main()
