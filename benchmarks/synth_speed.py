"""Throughput of the synthetic engine (issue 4's target: >= 100 views/s at 256x256 on 2 cores
for the body presets). Reports views/s for rendering alone (in memory: RGB + normal + depth +
mask + labels) and for rendering + writing the subject folders.

    .venv/bin/python benchmarks/synth_speed.py [--subjects 6] [--preset body-bench]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--preset", default="body-bench")
    args = ap.parse_args()

    from humanmv.body.anny_model import AnnyBody
    from humanmv.data.engine import SubjectRenderer, SubjectSampler, get_preset
    from humanmv.data.format import write_subject
    from humanmv.render import Renderer

    preset = get_preset(args.preset)
    body = AnnyBody()
    render = SubjectRenderer(body, Renderer())
    sample_subject = SubjectSampler(body)
    render(sample_subject(10_000), preset)  # warm-up
    specs = [sample_subject(s) for s in range(args.subjects)]
    t = time.perf_counter()
    views = [render(spec, preset) for spec in specs]
    t_render = time.perf_counter() - t
    n_views = sum(len(v.cameras) for v in views)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for i, v in enumerate(views):
            write_subject(Path(tmp) / f"{i:06d}", v)
        t_write = time.perf_counter() - t
    size = preset.size
    print(f"{args.preset}: {args.subjects} subjects, {n_views} views at {size}x{size}, one process")
    print(f"render only        {n_views / t_render:7.1f} views/s  (target 100 -> ratio {n_views / t_render / 100:.2f})")
    print(f"render + write     {n_views / (t_render + t_write):7.1f} views/s  "
          f"(writing 5 PNG layers per view: {t_write / n_views * 1000:.1f} ms/view)")


if __name__ == "__main__":
    main()
