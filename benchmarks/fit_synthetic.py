"""Fitting accuracy on synthetic ground truth (the fitting's acceptance check).

Body: N random Anny bodies (pose, phenotype) seen by random photo cameras; fit from their
ground-truth 2D keypoints + rendered silhouettes; report the mean 2D keypoint error in % of the
image height (target < 2%) and the silhouette IoU of the fit (target >= 0.85).
Head: N random heads (pose, phenotype, facial actions); fit from the projected landmarks;
report the landmark error in % of the face box (target < 3%).

    .venv/bin/python benchmarks/fit_synthetic.py --bodies 20 --heads 20 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bodies", type=int, default=20)
    ap.add_argument("--heads", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the per-subject numbers here")
    args = ap.parse_args()

    from humanmv.body.anny_model import AnnyBody
    from humanmv.body.face_landmarks import LandmarkMap
    from humanmv.body.fitting import FitTargets, fit_body
    from humanmv.body.head_fitting import fit_head
    from humanmv.body.sampling import sample_body_params, sample_photo_camera, synthetic_photo
    from humanmv.render import Renderer

    body, renderer, lmap = AnnyBody(), Renderer(), LandmarkMap.load()
    rng = np.random.default_rng(args.seed)
    S = args.size
    results: dict[str, list] = {"body": [], "head": []}

    for i in range(args.bodies):
        photo = synthetic_photo(body, renderer, sample_body_params(rng), rng, S, S)
        mask, kp = photo.mask, photo.keypoints
        conf = np.ones(len(body.keypoint_names), np.float32)
        fit = fit_body(body, FitTargets(S, S, kp.numpy(), conf, mask.numpy()))
        err = float((fit.keypoints_2d - kp).norm(dim=-1).mean()) / S
        fitted = renderer.render(body.mesh(fit.vertices), fit.camera, outputs=("mask",)).mask[0] > 0.5
        iou = float(((mask > 0.5) & fitted).sum() / ((mask > 0.5) | fitted).sum())
        results["body"].append({"keypoint_error": err, "iou": iou, "seconds": fit.seconds})
        print(f"body {i:2d}: keypoint error {100 * err:5.2f}% of height  IoU {iou:.3f}  {fit.seconds:.1f} s")

    for i in range(args.heads):
        params = sample_body_params(rng, expressions=True)
        with torch.no_grad():
            gt = body(params)
        head = gt.vertices[0][body.head_vertex_mask()]
        centre = (head.min(0).values + head.max(0).values) / 2
        radius = float((head - centre).norm(dim=-1).max())
        cam = sample_photo_camera(rng, centre, radius, S, S, az_range=35.0)
        lm, _ = cam.project(gt.vertices[0, lmap.vertex_index])
        lm = lm[0]
        box = float((lm.max(0).values - lm.min(0).values).max())
        fit = fit_head(body, FitTargets(S, S, landmarks=lm.numpy()), lmap)
        err = float((fit.keypoints_2d - lm).norm(dim=-1).mean()) / box
        results["head"].append({"landmark_error": err, "seconds": fit.seconds})
        print(f"head {i:2d}: landmark error {100 * err:5.2f}% of the face box  {fit.seconds:.1f} s")

    print()
    if results["body"]:
        e = np.mean([r["keypoint_error"] for r in results["body"]])
        iou = np.mean([r["iou"] for r in results["body"]])
        t = np.median([r["seconds"] for r in results["body"]])
        print(f"BODY  n={len(results['body'])}  keypoint error {100 * e:.2f}% of image height "
              f"(target < 2%, ratio {e / 0.02:.2f})  silhouette IoU {iou:.3f} (target >= 0.85, "
              f"min {min(r['iou'] for r in results['body']):.3f})  median fit {t:.2f} s")
    if results["head"]:
        e = np.mean([r["landmark_error"] for r in results["head"]])
        t = np.median([r["seconds"] for r in results["head"]])
        print(f"HEAD  n={len(results['head'])}  landmark error {100 * e:.2f}% of the face box "
              f"(target < 3%, ratio {e / 0.03:.2f})  median fit {t:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
