"""3DHumanGAN's ablation table (seed 002 Table 2 layout) from `gan3d_quality.py --json` files.

    python benchmarks/gan3d_quality.py --checkpoint runs/gan3d-base/final --json bench_out/base.json
    python benchmarks/gan3d_quality.py --checkpoint runs/gan3d-abl-upsampling/final --json bench_out/up.json
    python benchmarks/gan3d_ablations.py "1x1 + batch norm + segmentation (paper)=bench_out/base.json" \\
        "upsampling backbone=bench_out/up.json" --reference "1x1 + batch norm + segmentation (paper)"

Every file must come from the same `--samples` and `--seed`: then sample k is the same person
(z), body, pose and camera in every row, and each metric's difference to the reference row is
paired over samples (mean and 95% interval; an interval that excludes 0 is a difference). The
set-level figures (Fréchet distance on ST-LPIPS features, nearest-training ratio) have one value
per row. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

PER_SAMPLE = (("pck_gan", "PCK@0.1", 3), ("reprojection_psnr", "reprojection PSNR (dB)", 2),
              ("part_delta_e", "part ΔE", 2))
SETS = (("frechet_stlpips_gan_vs_real", "Fréchet (ST-LPIPS feat.)", 4), ("nearest_train_ratio", "nearest-train ratio", 3))


def paired(values: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Mean difference and its 95% interval over the samples both rows scored (finite in both)."""
    keep = np.isfinite(values) & np.isfinite(reference)
    d = values[keep] - reference[keep]
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", nargs="+", help="NAME=quality.json, one per ablation row")
    parser.add_argument("--reference", default=None, help="the row the differences are to (default: the first)")
    args = parser.parse_args(argv)
    rows = {}
    for item in args.rows:
        name, _, path = item.rpartition("=")
        if not name:
            parser.error(f"{item!r}: give NAME=path.json")
        rows[name] = json.loads(Path(path).read_text())
    reference = args.reference or next(iter(rows))
    if reference not in rows:
        parser.error(f"--reference {reference!r} is none of the rows")
    settings = {(r["args"]["samples"], r["args"]["seed"], r["args"]["truncation"]) for r in rows.values()}
    if len(settings) != 1:
        parser.error(f"the files were scored with different --samples/--seed/--truncation: {sorted(settings)}")
    base = rows[reference]
    head = ["row"] + [label for _, label, _ in PER_SAMPLE] + [label for _, label, _ in SETS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, row in rows.items():
        cells = [name]
        for key, _, digits in PER_SAMPLE:
            values = np.array(row["per_sample"][key], dtype=float)
            cell = f"{np.nanmean(values):.{digits}f}"
            if name != reference:
                d, lo, hi = paired(values, np.array(base["per_sample"][key], dtype=float))
                cell += f" (Δ {d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}])"
            cells.append(cell)
        for key, _, digits in SETS:
            value = row.get("sets", {}).get(key)
            cells.append("n/a" if value is None else f"{value:.{digits}f}")
        print("| " + " | ".join(cells) + " |")
    floor = base.get("sets", {}).get("frechet_stlpips_real_floor")
    if floor is not None:
        print(f"\nFréchet floor (two real walking sets of {base['args']['samples']}): {floor:.4f}; grey-render PCK "
              f"ceiling {np.mean(base['per_sample']['pck_grey']):.3f}; Δ = row - {reference}, paired over samples.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
