"""Time the face stage adds to `generate --generator mvdiff --views 16` (target: <= 15 s on 2 cores).

In one process (models loaded once, the photo fitted once, as a server runs it): mvdiff with and
without the face stage on the same fit, --runs times each, alternating; per-stage seconds from
the Studio's timings, and the added time = the difference of the medians of the whole
generate call (generation + refine + reconstruct), so a slower reconstruct would count too.

    .venv/bin/python benchmarks/face_stage_speed.py [--photo examples/astronaut.jpg] [--views 16]
        [--size 256] [--runs 2] [--face-checkpoint DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "astronaut.jpg")
    parser.add_argument("--views", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--face-checkpoint", type=Path, default=None, help="face-stage folder (default: shipped)")
    args = parser.parse_args()

    import torch

    from humanmv.io.images import load_image
    from humanmv.studio import Studio

    print(f"torch threads: {torch.get_num_threads()}")
    studio = Studio(texture_size=1024)
    photo = load_image(args.photo)
    fit = studio.fitter(photo, mode="body", seed=0)
    face = {} if args.face_checkpoint is None else {"face.checkpoint": str(args.face_checkpoint)}
    cases = {"with face stage": {"refine": "face", **face}, "without": {"refine": "none"}}
    warm = {"with face stage": {"refine": "face", **face, "steps": 1, "face.steps": 1},
            "without": {"refine": "none", "steps": 1}}
    for options in warm.values():  # load each choice's models once before timing
        studio.generate(photo, "mvdiff", options=options, photo_fit=fit, views=2, size=64)
    totals: dict[str, list[float]] = {name: [] for name in cases}
    stages: dict[str, list[dict]] = {name: [] for name in cases}
    notes: list[list[int]] = []
    for _ in range(args.runs):
        for name, options in cases.items():
            t = time.perf_counter()
            result = studio.generate(photo, "mvdiff", options=options, photo_fit=fit, views=args.views, size=args.size)
            totals[name].append(time.perf_counter() - t)
            stages[name].append(result.timings)
            notes.append(result.notes.get("face_stage", {}).get("refined_views", []))
    for name in cases:
        keys = [k for k in stages[name][0] if k in ("generate", "refine_face", "reconstruct")]
        per = ", ".join(f"{k} {statistics.median(t[k] for t in stages[name]):.1f} s" for k in keys)
        print(f"{name}: median {statistics.median(totals[name]):.1f} s over {args.runs} (min {min(totals[name]):.1f}); {per}")
    added = statistics.median(totals["with face stage"]) - statistics.median(totals["without"])
    refine = statistics.median(t["refine_face"] for t in stages["with face stage"])
    refined = len(stages_notes[-1]) if (stages_notes := [r for r in notes if r]) else 0
    print(f"added by the face stage at {args.views} views of {args.size} px ({refined} faces refined): {added:.1f} s "
          f"(the stage itself {refine:.1f} s; target <= 15 s)")


if __name__ == "__main__":
    main()
