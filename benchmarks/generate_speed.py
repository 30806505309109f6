"""Speed and memory of the built-in pipeline (the prior generator), on the bundled photo.

Cold: `humanmv generate PHOTO --views 16 --size 512` in a new process, command to all outputs
(target <= 15 s, goal 10 s), and the peak RSS of that process and its children (target 4 GB).
Warm: a second call on an already-built `Studio` (target <= 3 s), per stage.

    .venv/bin/python benchmarks/generate_speed.py [--runs 3] [--photo examples/astronaut.jpg]
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


def cold_runs(photo: Path, runs: int) -> tuple[list[float], float, dict]:
    times, stages = [], {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "from humanmv.cli import main; main()", "generate",
                            str(photo), "--out", str(out), "--views", "16", "--size", "512", "--quiet"],
                           check=True)
            times.append(time.perf_counter() - t)
            stages = json.loads((out / "run.json").read_text())["timings_s"]
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return times, peak_gb, stages


def warm_runs(photo: Path, runs: int) -> tuple[list[float], dict, float]:
    from humanmv.io.images import load_image
    from humanmv.pipelines.outputs import save_generation
    from humanmv.studio import Studio

    t = time.perf_counter()
    studio = Studio()
    build = time.perf_counter() - t
    image = load_image(photo)
    studio.generate(image, views=16, size=512)  # first call loads the perception models
    times, stages = [], {}
    for _ in range(runs):
        t = time.perf_counter()
        result = studio.generate(image, views=16, size=512)
        times.append(time.perf_counter() - t)
        stages = result.timings
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        written = save_generation(result, Path(tmp), studio.renderer, studio.body)
        stages = {**stages, **written, "write_all": time.perf_counter() - t}
    return times, stages, build


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--photo", type=Path, default=ROOT / "examples" / "astronaut.jpg")
    args = ap.parse_args()

    cold, peak_gb, cold_stages = cold_runs(args.photo, args.runs)
    med = statistics.median(cold)
    print(f"cold  new process, 16 views 512x512, all outputs: median {med:.2f} s "
          f"(min {min(cold):.2f}, max {max(cold):.2f}, n={len(cold)}); target 15 s -> ratio {med / 15:.2f}, "
          f"goal 10 s -> {med / 10:.2f}")
    print(f"      peak RSS (largest process) {peak_gb:.2f} GB; target 4 GB -> ratio {peak_gb / 4:.2f}")
    print("      stages (last run): " + ", ".join(f"{k} {v:.2f}" for k, v in cold_stages.items()))
    warm, stages, build = warm_runs(args.photo, args.runs)
    med = statistics.median(warm)
    print(f"warm  Studio.generate call (fit + texture + 16 views): median {med:.2f} s "
          f"(min {min(warm):.2f}, max {max(warm):.2f}); target 3 s -> ratio {med / 3:.2f}")
    print(f"      pipeline build {build:.2f} s; stages: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
