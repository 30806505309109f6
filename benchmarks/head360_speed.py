"""Speed and memory of the head360 generator, end to end.

`humanmv generate PORTRAIT --mode head --generator head360 --views 32 --size 256` in a fresh
process per run (command to all outputs), with the per-stage times it records in run.json
(fit, texture, generate = prior renders + back view + the windows of the main model,
reconstruct, outputs) and the process's peak RSS; next to the same command with the prior.
The quality tables (`humanmv bench --mode head`) are scored at the same sampler settings.

    .venv/bin/python benchmarks/head360_speed.py [--photo examples/grace_hopper.jpg] [--runs 2]
        [--views 32] [--checkpoint DIR] [--opt head360.steps=20 ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS, TARGET_RSS_GB = 90.0, 4.0


def one_run(photo: Path, generator: str, views: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from humanmv.cli import main; main()", "generate", str(photo),
                        "--mode", "head", "--generator", generator, "--views", str(views), "--size", "256",
                        "--out", str(out), "--quiet", *extra], check=True)
        seconds = time.perf_counter() - t
        stages = json.loads((out / "run.json").read_text())["timings_s"]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # the largest child so far
    return {"seconds": seconds, "stages": stages, "peak_rss_gb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, default=ROOT / "examples" / "grace_hopper.jpg")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--views", type=int, default=32)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--opt", action="append", default=[], help="generator options, e.g. head360.steps=10")
    args = ap.parse_args()
    extra = (["--checkpoint", str(args.checkpoint)] if args.checkpoint else []) + [
        a for o in args.opt for a in ("--opt", o)]
    report = {}
    for generator, flags in (("prior", []), ("head360", extra)):
        runs = [one_run(args.photo, generator, args.views, flags) for _ in range(args.runs)]
        seconds = [r["seconds"] for r in runs]
        stages = {k: statistics.median(r["stages"][k] for r in runs) for k in runs[0]["stages"]}
        report[generator] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                             "stages_median_s": stages, "peak_rss_gb": max(r["peak_rss_gb"] for r in runs)}
        print(f"{generator:8} end to end: median {statistics.median(seconds):.1f} s (min {min(seconds):.1f}, "
              f"max {max(seconds):.1f}) over {args.runs} runs; peak RSS {report[generator]['peak_rss_gb']:.2f} GB")
        print("         stages (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    h = report["head360"]
    print(f"head360 / prior time: {h['median_s'] / report['prior']['median_s']:.2f}x; target <= {TARGET_SECONDS:.0f} s "
          f"and <= {TARGET_RSS_GB:.0f} GB: {'met' if h['median_s'] <= TARGET_SECONDS and h['peak_rss_gb'] <= TARGET_RSS_GB else 'NOT met'}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
