"""Batch throughput: photos per minute of `humanmv generate PHOTOS_DIR` with 1 process and with
2 processes (`accelerate launch --multi_gpu --num_processes 2`, no GPU visible), and the ratio.

The photos are a fixed set made from the two bundled examples (astronaut.jpg, a full body, and
grace_hopper.jpg, a head and shoulders photo): each as it is, mirrored, and cropped to its
central 90%, cycled to --photos. Settings: generate's defaults (prior generator, 512-pixel
views, 1024-pixel texture, turntable and every other output) except --views (default 8).
Each run starts from an empty --out, so its wall time includes starting the processes and
loading the models once per process; "steady" leaves that out (photos over the busiest
process's summed per-photo seconds from summary.json). Torch threads: accelerate gives each of
its processes one; a single process gets torch's default (the core count) unless --threads.
The 1-minute load average before and after each run is printed: on a shared machine other
work skews every figure.

    .venv/bin/python benchmarks/batch_throughput.py [--photos 8] [--views 8] [--processes 1 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_photos(folder: Path, count: int) -> list[Path]:
    from PIL import Image, ImageOps

    variants = []
    for name in ("astronaut", "grace_hopper"):
        img = Image.open(ROOT / "examples" / f"{name}.jpg").convert("RGB")
        w, h = img.size
        crop = img.crop((round(0.05 * w), round(0.05 * h), round(0.95 * w), round(0.95 * h)))
        variants += [(f"{name}", img), (f"{name}_mirror", ImageOps.mirror(img)), (f"{name}_crop", crop)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        stem, img = variants[i % len(variants)]
        path = folder / f"{i:03d}_{stem}.jpg"
        img.save(path, quality=95)
        paths.append(path)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(photos: Path, out: Path, processes: int, views: int, threads: int | None) -> dict:
    generate = ["-m", "humanmv", "generate", str(photos), "--out", str(out), "--views", str(views), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    if processes == 1:
        cmd = [sys.executable, *generate]
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
        cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes",
               str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), *generate]
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    load_after = os.getloadavg()[0]
    summary = json.loads((out / "summary.json").read_text())
    if summary["counts"]["ok"] != summary["counts"]["total"]:
        raise SystemExit(f"{processes} process(es): not every photo succeeded:\n{done.stderr[-3000:]}")
    busiest = max(sum(r["seconds"] for r in summary["photos"] if r["process"] == p) for p in range(processes))
    n = summary["counts"]["total"]
    return {"processes": processes, "photos": n, "wall_s": wall, "per_minute": 60 * n / wall,
            "steady_per_minute": 60 * n / busiest, "seconds_per_photo": [r["seconds"] for r in summary["photos"]],
            "load": (load_before, load_after)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of every run (default: see above)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        make_photos(photos, args.photos)
        results = [run(photos, Path(tmp) / f"out{p}", p, args.views, args.threads) for p in args.processes]
    print(f"{args.photos} photos, --views {args.views} (other settings: generate's defaults), "
          f"{os.cpu_count()} CPU cores")
    for r in results:
        print(f"  {r['processes']} process(es): {r['wall_s']:.1f} s wall, {r['per_minute']:.2f} photos/min "
              f"(steady, without start-up and loading: {r['steady_per_minute']:.2f} photos/min; "
              f"per photo {min(r['seconds_per_photo']):.1f}..{max(r['seconds_per_photo']):.1f} s; "
              f"load average {r['load'][0]:.1f} -> {r['load'][1]:.1f})")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"  ratio {b['processes']} / {a['processes']} processes: {b['per_minute'] / a['per_minute']:.2f} "
              f"(steady {b['steady_per_minute'] / a['steady_per_minute']:.2f})")


if __name__ == "__main__":
    main()
