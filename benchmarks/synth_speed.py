"""Throughput of the synthetic engine (target: >= 100 views/s at 256x256 on 2 cores
for the body presets). Reports views/s with 1 and 2 workers, for rendering alone (in memory:
RGB + normal + depth + mask + labels, shading included) and for rendering + writing the subject
folders (5 PNG layers per view), through the same code as `humanmv synth --workers K`.
Worker start-up (building Anny and the renderer, ~5 s a process) is excluded: a warm-up batch
runs first in the same pool. On a shared machine wall-clock figures fall with the load, so the
CPU seconds per view are printed too, and the rate they allow on idle cores.

    .venv/bin/python benchmarks/synth_speed.py [--subjects 8] [--preset body-bench] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def cpu_job(*job) -> tuple[int, float]:
    """subject_job and the CPU seconds its process spent on it (all threads, llvmpipe's too)."""
    from humanmv.data.synth import subject_job

    t = time.process_time()
    views = subject_job(*job)
    return views, time.process_time() - t


def _timed(run, jobs) -> tuple[float, int, float]:
    """wall seconds, views, CPU seconds."""
    t = time.perf_counter()
    results = run(jobs)
    return time.perf_counter() - t, sum(v for v, _ in results), sum(c for _, c in results)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--preset", default="body-bench")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    from humanmv.data.synth import _init_worker

    load, ncores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"{args.preset}: {args.subjects} subjects a run; {os.cpu_count()} cores; load average {load:.1f} before")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            if workers == 1:
                _init_worker()  # the in-process path of `humanmv synth --workers 1`: torch on 1 thread
                pool = None
                run = lambda jobs: [cpu_job(*j) for j in jobs]  # noqa: E731
            else:
                pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), initializer=_init_worker)
                run = lambda jobs: list(pool.map(cpu_job, *zip(*jobs)))  # noqa: E731
            run([(args.preset, 99, 10_000 + k, None) for k in range(workers)])  # warm-up: start-up, shaders
            jobs = [(args.preset, 0, i, None) for i in range(args.subjects)]
            t_render, views, cpu_render = _timed(run, jobs)
            out = Path(tmp) / "ds"
            (out / "subjects").mkdir(parents=True)
            t_write, _, cpu_write = _timed(run, [(p, s, i, out) for p, s, i, _ in jobs])
            if pool is not None:
                pool.shutdown()
        print(f"workers {workers}: {views} views; render only {views / t_render:6.1f} views/s, "
              f"render + write {views / t_write:6.1f} views/s (target 100); CPU per view "
              f"{cpu_render / views * 1000:.1f} / {cpu_write / views * 1000:.1f} ms, i.e. at most "
              f"{views / cpu_render * ncores:.0f} / {views / cpu_write * ncores:.0f} views/s on {ncores} idle cores")
    print(f"load average after {os.getloadavg()[0]:.1f} (the machine is shared: other jobs slow every figure)")


if __name__ == "__main__":
    main()
