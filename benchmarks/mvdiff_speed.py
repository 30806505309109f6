"""Speed and memory of the mvdiff generator.

1. Per denoising step: one call of the multi-view UNet as the sampler makes it (classifier-free
   guidance: the conditional and unconditional branch batched), for 6 and 16 views, views of
   256x256 (the model itself works at its config's sample size and the pipeline composes back
   at 256). Latency min/median/max over --steps, and the peak RSS of a fresh process per case.
2. End to end: `humanmv generate PHOTO --generator mvdiff --views 6 --size 256` in a new
   process, command to all outputs, next to the same command with the prior.

    .venv/bin/python benchmarks/mvdiff_speed.py [--config small] [--steps 10] [--runs 3]
        [--checkpoint DIR] [--device cpu|cuda]
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

STEP_CASE = r"""
import json, resource, sys, time, torch
from humanmv.models import MultiViewUNet, get_config
config, views, steps, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
model = MultiViewUNet(get_config(config)).to(device).eval()
c, s = model.config, model.config.sample_size
drop = torch.tensor([False, True], device=device)
ref = torch.rand(2, c.image_channels, s, s, device=device)
ref_cond = torch.rand(2, c.condition_channels, s, s, device=device)
x = torch.randn(2, views, c.image_channels, s, s, device=device)
cond = torch.rand(2, views, c.condition_channels, s, s, device=device)
cam = torch.zeros(2, views, 12, device=device)
times = []
with torch.no_grad():
    state = model.encode_reference(ref, ref_cond, drop)
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        model(x, torch.full((2,), 500, device=device), cond, cam, reference_state=state)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call warms up
            times.append(time.perf_counter() - t)
peak = torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"times": times, "peak_gb": peak}))
"""


def step_case(config: str, views: int, steps: int, device: str) -> dict:
    out = subprocess.run([sys.executable, "-c", STEP_CASE, config, str(views), str(steps), device],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate_runs(photo: Path, runs: int, generator: str, checkpoint: Path | None) -> list[float]:
    times = []
    extra = ["--generator", generator] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "from humanmv.cli import main; main()", "generate", str(photo),
                            "--out", str(Path(tmp) / "out"), "--views", "6", "--size", "256", "--quiet", *extra],
                           check=True)
            times.append(time.perf_counter() - t)
    return times


def fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", type=Path, default=None, help="mvdiff folder (default: the shipped one)")
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "astronaut.jpg")
    args = parser.parse_args()

    import torch

    print(f"# mvdiff speed: config {args.config}, device {args.device}, torch threads {torch.get_num_threads()}")
    for views in (6, 16):
        r = step_case(args.config, views, args.steps, args.device)
        print(f"denoising step, {views:2d} views (CFG batch 2): {fmt(r['times'])}; peak memory {r['peak_gb']:.2f} GB")
    if args.device == "cpu":
        mv = generate_runs(args.photo, args.runs, "mvdiff", args.checkpoint)
        prior = generate_runs(args.photo, args.runs, "prior", None)
        print(f"generate --generator mvdiff, 6 views at 256: {fmt(mv)}")
        print(f"generate --generator prior,  6 views at 256: {fmt(prior)}  (mvdiff costs {statistics.median(mv) / statistics.median(prior):.2f}x)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print(f"peak RSS of any child process: {peak:.2f} GB")


if __name__ == "__main__":
    main()
