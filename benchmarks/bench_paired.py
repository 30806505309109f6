"""Paired comparison of two methods of one `humanmv bench` run, subject by subject.

    python benchmarks/bench_paired.py RESULTS_DIR [MORE_RESULTS_DIR ...] --a prior --b mvdiff
           [--part all|front|back] [--metric psnr --metric ssim --metric st_lpips ...] [--json]

Several results folders (runs of the same subjects, e.g. a new checkpoint benched later) are
read as one.

For each metric: each subject's mean over its views (the part's views: all, front |az| <= 90,
back, side = 30..90 degrees either way) for method a and method b, then the mean of b - a over the subjects both methods scored
with its 95% Student-t interval ("beats" in our acceptance lists = the interval excludes 0 in
the metric's good direction). --real results pair per photo the same way (hue_drift's mean over
parts, outside_body, i2oid over face views).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

# metric -> (direction: +1 higher is better, -1 lower is better)
DIRECTION = {"psnr": 1, "ssim": 1, "iou": 1, "lpips": -1, "st_lpips": -1, "csim": 1, "i2oid": 1,
             "hue_drift": -1, "outside_body": -1, "face_crop_psnr": 1, "face_crop_ssim": 1, "face_crop_st_lpips": -1,
             "hair_iou": 1, "hair_de": -1, "o2oid": 1}
PARTS = {"all": lambda az: True, "front": lambda az: abs(((az + 180) % 360) - 180) <= 90,
         "back": lambda az: abs(((az + 180) % 360) - 180) > 90,
         "side": lambda az: 30 <= abs(((az + 180) % 360) - 180) <= 90}  # the face stage's rows (eval.face_crops)


def subject_value(row: dict, metric: str, part: str) -> float | None:
    """One subject's number for `metric` (None when it has none)."""
    if metric == "hue_drift":
        drift = row.get("hue_drift")           # real_checks.part_hue_drift: the mean over parts and views
        return None if drift is None else float(drift["mean"])
    if metric == "outside_body":
        return row.get("outside_body")
    if metric == "o2oid":                      # the subject's mean pairwise face similarity (all views)
        o2 = (row.get("identity") or {}).get("O2OID") or {}
        return float(o2["value"]) if o2.get("available") else None
    values = row.get("cos_to_input") if metric == "i2oid" else row.get(metric)
    if not values:
        return None
    keep = PARTS[part]
    vals = [v for v, az in zip(values, row["az"]) if v is not None and keep(az) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def paired(results: dict, a: str, b: str, metric: str, part: str) -> dict:
    from humanmv.eval.pose3d import paired_interval

    rows = {(r["method"], r["subject"]): r for r in results["subjects"] if not r.get("error")}
    pairs = []
    for (method, subject), row in rows.items():
        if method != a or (b, subject) not in rows:
            continue
        va, vb = subject_value(row, metric, part), subject_value(rows[(b, subject)], metric, part)
        if va is not None and vb is not None:
            pairs.append((va, vb))
    if not pairs:
        return {"metric": metric, "part": part, "n": 0}
    xa, xb = np.array(pairs).T
    ci = paired_interval(xa, xb)
    better = ci.excludes_zero and (ci.mean * DIRECTION.get(metric, 1) > 0)
    worse = ci.excludes_zero and not better
    return {"metric": metric, "part": part, "n": ci.n, "a": float(xa.mean()), "b": float(xb.mean()),
            "diff": ci.mean, "low": ci.low, "high": ci.high,
            "verdict": "b better" if better else "b worse" if worse else "no difference shown"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="+", help="bench --out folders (results.json) or the files")
    ap.add_argument("--a", required=True, help="baseline method (as in results.json)")
    ap.add_argument("--b", required=True, help="the method compared with it")
    ap.add_argument("--part", action="append", choices=list(PARTS),
                    help="views: all, front, back, side (30 <= |az| <= 90) (repeatable)")
    ap.add_argument("--metric", action="append", help="metrics (default psnr, ssim, st_lpips, iou)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    paths = [p / "results.json" if p.is_dir() else p for p in args.results]
    results = {"subjects": [row for p in paths for row in json.loads(p.read_text())["subjects"]]}
    path = ", ".join(str(p) for p in paths)
    methods = sorted({r["method"] for r in results["subjects"]})
    for m in (args.a, args.b):
        if m not in methods:
            raise SystemExit(f"{path}: no method {m!r}; it has {', '.join(methods)}")
    out = [paired(results, args.a, args.b, metric, part)
           for part in (args.part or ["all"]) for metric in (args.metric or ["psnr", "ssim", "st_lpips", "iou"])]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{args.b} - {args.a}, paired over subjects ({path})")
    print(f"{'part':6} {'metric':12} {'n':>3} {'a':>9} {'b':>9} {'b - a [95% interval]':>32}  verdict")
    for r in out:
        if not r["n"]:
            print(f"{r['part']:6} {r['metric']:12}   0  (no subject has both)")
            continue
        interval = f"{r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
        print(f"{r['part']:6} {r['metric']:12} {r['n']:3d} {r['a']:9.4f} {r['b']:9.4f} {interval:>32}  {r['verdict']}")


if __name__ == "__main__":
    main()
