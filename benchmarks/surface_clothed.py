"""Clothes and hair as geometry on held-out clothed subjects: does the surface stage give the
right shape where the photo did not look?

    python benchmarks/surface_clothed.py [--split data/body-bench-clothed] [--subjects 20]
        [--methods prior,prior[reconstruct=surface]] [--json out.json] [--wearing long-hair] [--start 0]

Each subject's input view goes through the method as `humanmv generate` runs it
(`eval.methods`); at its 24 ground-truth cameras it prints per method:
- novel-view silhouette IoU at az 90 / 180 / 270;
- Chamfer distance (cm) and normal consistency between the surfaces the views show: every
  view's depth map back-projected to points (with the view's normals), predicted against true;
  the predicted depths are scaled by one factor per subject (the median ratio to the true
  depth: a single photo knows the person only up to scale);
- the same for the subjects wearing each kind of loose garment (skirt, dress, long hair, bun or
  ponytail, coat; a subject may be in several groups, or in "none of these"), and the paired
  95% interval of each method against the first, over subjects.
The split is written with `humanmv synth --preset body-bench-clothed` when it is missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

NOVEL = (90.0, 180.0, 270.0)


def points_of(views, cameras, depth_scale: float = 1.0, stride: int = 4):
    """(N, 3) world points and (N, 3) world normals back-projected from every view's depth."""
    pts, nrm = [], []
    for i in range(len(cameras)):
        d = views.depth[i] * depth_scale
        valid = (views.mask[i] > 0.5) & (d > 0)
        ys, xs = torch.nonzero(valid, as_tuple=True)
        keep = (ys % stride == 0) & (xs % stride == 0)
        ys, xs = ys[keep], xs[keep]
        z = d[ys, xs]
        K = cameras.K[i]
        cam = torch.stack([(xs + 0.5 - K[0, 2]) / K[0, 0] * z, (ys + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1)
        w2c = cameras.world_to_cam[i]
        R, t = w2c[:3, :3], w2c[:3, 3]
        pts.append((cam - t) @ R)
        if views.normal is not None:
            nrm.append(views.normal[i][ys, xs] @ R)
    return torch.cat(pts), (torch.cat(nrm) if nrm else None)


def chamfer(a, an, b, bn) -> tuple[float, float]:
    """Symmetric mean nearest distance (cm) and normal consistency (mean |cos|) of two clouds."""
    def nearest(x, y):
        idx = torch.cat([torch.cdist(x[i:i + 4096], y).argmin(1) for i in range(0, x.shape[0], 4096)])
        return idx
    ab, ba = nearest(a, b), nearest(b, a)
    dist = 0.5 * ((a - b[ab]).norm(dim=-1).mean() + (b - a[ba]).norm(dim=-1).mean())
    nc = float("nan")
    if an is not None and bn is not None:
        nc = 0.5 * float((an * bn[ab]).sum(-1).abs().mean() + (bn * an[ba]).sum(-1).abs().mean())
    return float(dist) * 100, nc


GROUPS = {"skirt": {"skirt"}, "dress": {"dress"}, "long hair": {"long-hair"}, "bun or ponytail": {"bun", "ponytail"},
          "coat": {"coat"}}


def groups_of(meta: dict) -> list[str]:
    """The garment groups a subject belongs to (several, or "none of these")."""
    kinds = {s["kind"] for s in meta.get("outfit", [])}
    out = [g for g, members in GROUPS.items() if kinds & members]
    return out or ["none of these"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", type=Path, default=Path("data/body-bench-clothed"))
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--start", type=int, default=0, help="skip the split's first START subjects")
    ap.add_argument("--methods", default="prior,prior[reconstruct=surface]")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--wearing", default=None, help="only the subjects (of the first --subjects) wearing this shell kind")
    args = ap.parse_args()
    if not (args.split / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "humanmv", "synth", "--preset", "body-bench-clothed", "--subjects",
                        str(args.start + args.subjects), "--out", str(args.split)], check=True)
    from humanmv.data.format import read_subject
    from humanmv.eval.bench import split_folders
    from humanmv.eval.image_metrics import mask_iou
    from humanmv.eval.methods import make_predictor
    from humanmv.eval.pose3d import paired_interval
    from humanmv.studio import Studio

    methods = [m for m in args.methods.split(",") if m] if "[" not in args.methods else \
        [m.strip() for m in _split_methods(args.methods)]
    studio = Studio(texture_size=512)
    predictors = {m: make_predictor(m, lambda: studio) for m in methods}
    folders = split_folders(args.split, "test", args.start + args.subjects)[args.start:]
    rows: dict[str, dict[str, list]] = {m: {"iou": [], "chamfer": [], "normal": [], "seconds": []} for m in methods}
    kinds = []
    if args.wearing:
        folders = [f for f in folders
                   if args.wearing in {s["kind"] for s in json.loads((f / "meta.json").read_text()).get("outfit", [])}]
    for folder in folders:
        gt = read_subject(folder, layers=("rgb", "mask", "depth", "normal"))
        C = len(gt.cameras) - 1
        rig = gt.cameras[list(range(C))]
        novel = [int(np.argmin(np.abs(((rig.az.numpy() - a) + 180) % 360 - 180))) for a in NOVEL]
        gt_rig = gt[list(range(C))]
        gpts, gnrm = points_of(gt_rig, rig)
        kinds.append(groups_of(gt.meta))
        for m in methods:
            t = time.perf_counter()
            pred = predictors[m](gt, folder.name)
            seconds = time.perf_counter() - t
            iou = mask_iou(pred.mask, gt.mask[:C])
            both = (pred.mask > 0.5) & (gt_rig.mask > 0.5) & (pred.depth > 0) & (gt_rig.depth > 0)
            scale = float((gt_rig.depth[both] / pred.depth[both]).median()) if bool(both.any()) else 1.0
            ppts, pnrm = points_of(pred, rig, scale)
            cd, nc = chamfer(ppts, pnrm, gpts, gnrm)
            rows[m]["iou"].append(float(iou[novel].mean()))
            rows[m]["chamfer"].append(cd)
            rows[m]["normal"].append(nc)
            rows[m]["seconds"].append(seconds)
            rows[m].setdefault("shells", []).append((pred.meta or {}).get("shells", []))
        print(f"{folder.name} {'+'.join(kinds[-1]):16s} " + "  ".join(
            f"{m}: IoU {rows[m]['iou'][-1]:.3f} CD {rows[m]['chamfer'][-1]:.2f} NC {rows[m]['normal'][-1]:.3f}"
            + (f" {rows[m]['shells'][-1]}" if rows[m]["shells"][-1] else "") for m in methods)
            + f"  | wears {sorted(s['kind'] for s in gt.meta.get('outfit', []))}", flush=True)
    report = {"subjects": len(folders), "kinds": kinds, "methods": {}}
    print(f"\n{len(folders)} subjects of {args.split}; novel views az {NOVEL}")
    groups = ["all"] + [g for g in list(GROUPS) + ["none of these"] if any(g in k for k in kinds)]
    for g in groups:
        sel = np.array([g == "all" or g in k for k in kinds])
        if sel.sum() < 2:
            continue
        print(f"\n[{g}] n={int(sel.sum())}")
        print(f"{'method':36s} {'IoU':>7s} {'CD cm':>7s} {'NC':>7s}   vs {methods[0]}: dIoU [95%]   dCD [95%]")
        for m in methods:
            r = {k: np.array(v)[sel] for k, v in rows[m].items() if k != "shells"}
            line = f"{m:36s} {r['iou'].mean():7.3f} {r['chamfer'].mean():7.2f} {np.nanmean(r['normal']):7.3f}"
            if m != methods[0]:
                base = {k: np.array(v)[sel] for k, v in rows[methods[0]].items() if k != "shells"}
                di, dc = paired_interval(base["iou"], r["iou"]), paired_interval(base["chamfer"], r["chamfer"])
                line += f"   {di.mean:+.3f} [{di.low:+.3f},{di.high:+.3f}]   {dc.mean:+.2f} [{dc.low:+.2f},{dc.high:+.2f}]"
            print(line)
            report["methods"].setdefault(m, {})[g] = {k: float(np.nanmean(v)) for k, v in r.items()}
    for m in methods:
        report["methods"][m]["per_subject"] = rows[m]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def _split_methods(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    return out + ([cur] if cur else [])


if __name__ == "__main__":
    main()
