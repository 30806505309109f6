"""Speed of `humanmv animate` on the bundled photo's rigged avatar.

The avatar is made once (`humanmv generate examples/astronaut.jpg`, not timed), then
`humanmv animate avatar.glb --motion walk --seconds 4 --fps 24 --size 512` runs in a new process,
command to the finished mp4 (target <= 15 s on 2 cores), `--runs` times; the median, the CPU
seconds of the process (user + system, all threads: what it costs on an idle machine) and the
load average (other work on the machine slows the wall clock) are printed.

    .venv/bin/python benchmarks/animate.py [--runs 3] [--avatar DIR/avatar.glb] [--camera front]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
TARGET_S = 15.0


def make_avatar(folder: Path) -> Path:
    out = folder / "astronaut"
    subprocess.run([*HUMANMV, "generate", str(ROOT / "examples" / "astronaut.jpg"), "--out", str(out),
                    "--views", "4", "--size", "256", "--quiet"], check=True)
    return out / "avatar.glb"


def run_once(avatar: Path, out: Path, camera: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one animate process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([*HUMANMV, "animate", str(avatar), "--motion", "walk", "--out", str(out), "--seconds", "4",
                    "--fps", "24", "--size", "512", "--camera", camera, "--overwrite", "--quiet"], check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--avatar", type=Path, default=None, help="a rigged avatar.glb (default: generate one)")
    ap.add_argument("--camera", default="front", choices=("front", "orbit"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        avatar = args.avatar or make_avatar(Path(tmp))
        walls, cpus, loads = [], [], []
        for _ in range(args.runs):
            loads.append(os.getloadavg()[0])
            wall, cpu = run_once(avatar, Path(tmp) / "walk.mp4", args.camera)
            walls.append(wall)
            cpus.append(cpu)
        size_mb = (Path(tmp) / "walk.mp4").stat().st_size / 1e6
    med = statistics.median(walls)
    print(f"animate walk, 4 s at 24 fps, 512x512, {args.camera} camera, new process to mp4: median {med:.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}, n={len(walls)}); target {TARGET_S:.0f} s -> ratio {med / TARGET_S:.2f}")
    print(f"      CPU time per run (user + system) median {statistics.median(cpus):.2f} s on {os.cpu_count()} cores; "
          f"1-min load average before the runs {', '.join(f'{v:.1f}' for v in loads)}; video {size_mb:.2f} MB")


if __name__ == "__main__":
    main()
