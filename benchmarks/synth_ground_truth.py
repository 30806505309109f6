"""Ground truth of the synthetic engine agrees with itself (the engine's acceptance check), on N
body-bench subjects read back from disk (16-bit mm depth, 8-bit normals):

(a) depth reprojection between pairs of views (15 and 45 degrees apart) with the cameras: mean
    round-trip reprojection error in px on pixels both views see (target < 1 px);
(b) the stored camera-space normals against the normals of the depth map's gradients (through
    the intrinsics), on interior pixels away from depth edges: mean / median degrees.

    .venv/bin/python benchmarks/synth_ground_truth.py [--subjects 20] [--data DIR] [--workers 2]

Without --data a body-bench dataset is written into a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--data", type=Path, default=None, help="an existing body-bench dataset")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from humanmv.data.format import read_subject
    from humanmv.data.ground_truth import normal_depth_angles, reprojection_errors
    from humanmv.data.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        if args.data is None:
            synthesize(root, "body-bench", args.subjects, seed=0, workers=args.workers)
        names = [e["name"] for e in json.loads((root / "manifest.json").read_text())["subjects"]][:args.subjects]
        errors, angles, per_subject = [], [], []
        for name in names:
            views = read_subject(root / "subjects" / name, layers=("depth", "normal", "mask"))
            rig = [i for i, n in enumerate(views.cameras.names) if n != "input"]
            errs = [reprojection_errors(views, rig[i], rig[(i + k) % len(rig)])
                    for i in range(0, len(rig), 3) for k in (1, 3)]
            e = torch.cat(errs)
            a = torch.cat([normal_depth_angles(views, i) for i in rig[::3]])
            errors.append(e)
            angles.append(a)
            per_subject.append((name, float(e.mean()), len(e), float(a.mean())))
    for name, e, n, a in per_subject:
        print(f"  {name}: reprojection {e:.3f} px over {n} px, normal-vs-depth {a:.1f} deg")
    e, a = torch.cat(errors), torch.cat(angles)
    print(f"{len(names)} subjects: mean reprojection error {float(e.mean()):.3f} px "
          f"(median {float(e.median()):.3f}, 95th pct {float(e.quantile(0.95)):.3f}; target < 1 px) "
          f"over {len(e)} pixel pairs")
    print(f"normals vs depth gradients: mean {float(a.mean()):.2f} deg, median {float(a.median()):.2f} deg "
          f"over {len(a)} interior pixels")


if __name__ == "__main__":
    main()
