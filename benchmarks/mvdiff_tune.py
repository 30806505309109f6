"""Choose the mvdiff sampler's settings on VALIDATION subjects (never the benchmark's test
split): PSNR / SSIM / mask IoU of mvdiff at several (strength, guidance) pairs against the
prior's own views, on a `humanmv synth` dataset whose prior views are prepared
(`humanmv train mvdiff` prepares them; so does `prepare_prior_views`).

    .venv/bin/python benchmarks/mvdiff_tune.py --data DATA --checkpoint RUN/final \
        [--split val] [--subjects 8] [--views 8] [--strength 0.3 0.5 0.7 1.0] [--guidance 1.0 2.0] [--detail 0 0.5 1]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch


def score(rgb: torch.Tensor, mask: torch.Tensor, gt_rgb: torch.Tensor, gt_mask: torch.Tensor) -> tuple[float, float, float]:
    from humanmv.eval.image_metrics import mask_iou, psnr, ssim
    from humanmv.views import channels_first

    def on_white(c, m):
        return channels_first(c * m[..., None] + (1 - m[..., None]))

    pred, target = on_white(rgb, mask), on_white(gt_rgb, gt_mask)
    return float(psnr(pred, target).mean()), float(ssim(pred, target).mean()), float(mask_iou(mask, gt_mask).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--detail", type=float, nargs="+", default=[0.0])
    args = parser.parse_args()

    from humanmv.data.format import read_subject
    from humanmv.data.format import finished_subjects
    from humanmv.generators import GeneratorContext
    from humanmv.generators.mvdiff import MVDiffGenerator, MVDiffOptions

    torch.set_num_threads(1)
    names = [n for n in finished_subjects(args.data, args.split) if (args.data / "prior" / n / "meta.json").is_file()]
    names = names[: args.subjects]
    generator = MVDiffGenerator(GeneratorContext(None, None, torch.device("cpu")), MVDiffOptions(steps=args.steps),
                                args.checkpoint)
    rows: dict = {"prior": []}
    t0 = time.perf_counter()
    for name in names:
        gt = read_subject(args.data / "subjects" / name, layers=("rgb", "mask"))
        pr = read_subject(args.data / "prior" / name, layers=("rgb", "mask", "normal", "depth"))
        inp = len(gt.cameras) - 1
        pick = np.linspace(0, inp, args.views, endpoint=False).round().astype(int).tolist()  # evenly round the rig
        coarse = pr[pick]
        rows["prior"].append(score(coarse.rgb, coarse.mask, gt.rgb[pick], gt.mask[pick]))
        for strength, guidance, detail in itertools.product(args.strength, args.guidance, args.detail):
            generator.options = MVDiffOptions(steps=args.steps, strength=strength, guidance_scale=guidance, detail=detail)
            out = generator.generate_raw(coarse, gt.rgb[inp], gt.mask[inp], (pr.rgb[inp], pr.mask[inp], pr.normal[inp]),
                                   pr.cameras.world_to_cam[inp], seed=0)
            rows.setdefault((strength, guidance, detail), []).append(score(out.rgb, out.mask, gt.rgb[pick], gt.mask[pick]))
    print(f"# {len(names)} {args.split} subjects x {args.views} views, {args.steps} DDIM steps "
          f"({time.perf_counter() - t0:.0f} s)")
    print("| setting | PSNR | SSIM | IoU |\n|---|---|---|---|")
    for key, values in rows.items():
        p, s, i = np.mean(values, axis=0)
        label = key if key == "prior" else f"strength {key[0]}, guidance {key[1]}, detail {key[2]}"
        print(f"| {label} | {p:.3f} | {s:.4f} | {i:.3f} |")


if __name__ == "__main__":
    main()
