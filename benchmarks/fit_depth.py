"""Limbs in depth: the body fit against 3D ground truth on synthetic people in dynamic poses.

Subjects come from the TEST split of the pose sets (`data.lifting_poses`: walking, random and
dynamic poses on the engine's bodies; the pose lifter trains on the train split only), each
seen by a random photo camera (`body.sampling.sample_photo_camera`). The fit gets what a photo
gives: the projected keypoints (with 0.4% of the image height of noise, small toes unseen) and
the rendered silhouette; the focal length is unknown to it (it assumes its default), as for most
photos. Two fits per subject, paired:

- before: the fit without the pose lifter and without the unseen-part hold (today's fit);
- after:  the default fit (`FitConfig()` with the shipped lifter).

Reported per fit: PA-MPJPE and MPJPE after scale alignment (mm, `eval.pose3d`), the silhouette
IoU of novel views at azimuth 90/180/270 around the subject (each body seen in its own camera
frame, rotated about its root, so where it stands does not count; its size does), and the photo view's
keypoint error and IoU; then the paired 95% interval of after - before over subjects.

With --detected the fit gets what it gets from a real photo instead: each subject is rendered
textured and shaded (the engine's appearance) on a grey gradient, and mediapipe's keypoints,
confidences and person mask are fitted (subjects mediapipe finds no one in are skipped and
counted) — the gap between Anny's keypoints and a detector's, which the lifter never saw.

    .venv/bin/python benchmarks/fit_depth.py --subjects 60 [--detected] [--split val] [--fit-option KEY=VALUE] [--json out.json] [--sheet views.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

NOVEL_AZIMUTHS = (90.0, 180.0, 270.0)


def camera_frame_orbit(vertices_cam: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Camera-frame vertices (V, 3) -> a world-like frame centred on the root, Y up, the photo
    camera on +Z (a 180° turn about x: (x, -y, -z)), so an orbit at az 0 is the photo's view."""
    p = vertices_cam - root
    return torch.stack([p[:, 0], -p[:, 1], -p[:, 2]], -1)


def novel_view_ious(body, renderer, gt_cam_verts, fit_cam_verts, gt_root, fit_root, distance: float,
                    size: int = 256) -> tuple[list[float], list[np.ndarray]]:
    from humanmv.cameras import orbit_cameras

    cams = orbit_cameras(list(NOVEL_AZIMUTHS), 0.0, distance=distance, fov_deg=40.0, width=size, height=size)
    masks = []
    for verts, root in ((gt_cam_verts, gt_root), (fit_cam_verts, fit_root)):
        v = camera_frame_orbit(verts, root)
        masks.append(renderer.render(body.mesh(v), cams, outputs=("mask",)).mask > 0.5)
    ious = [float((a & b).sum() / (a | b).sum().clamp_min(1)) for a, b in zip(*masks)]
    return ious, [np.concatenate([m[i].numpy() for m in masks], 1) for i in range(len(cams))]


def detected_targets(body, renderer, perceiver, spec_seed, params, cam, size):
    """FitTargets from mediapipe on a textured, shaded render of the body, or None."""
    from humanmv.body.fitting import FitTargets
    from humanmv.data.appearance import UVAtlas, paint_texture, sample_appearance, shade

    rng = np.random.default_rng([spec_seed, 13])
    look = sample_appearance(rng)
    global _ATLAS
    if _ATLAS is None:
        _ATLAS = UVAtlas(body, 256)
    texture = paint_texture(_ATLAS, look, rng)
    with torch.no_grad():
        verts = body(params).vertices[0]
    out = renderer.render(body.mesh(verts, texture=texture), cam, outputs=("rgb", "mask", "normal"))
    rgb = shade(out.rgb, out.normal, cam.world_to_cam, out.mask, look)[0]
    mask = out.mask[0][..., None]
    background = torch.linspace(0.75, 0.55, size)[:, None, None].expand(size, size, 3)
    pixels = ((rgb * mask + background * (1 - mask)).clamp(0, 1) * 255).round().byte().numpy()
    try:
        p = perceiver.perceive(pixels, need_identity=False)
    except Exception:  # noqa: BLE001 - no person found is a result here
        return None
    if p.keypoints is None:
        return None
    return FitTargets(size, size, p.coco_xy, p.coco_confidence, p.mask)


_ATLAS = None


def to_camera(points: torch.Tensor, w2c: torch.Tensor) -> torch.Tensor:
    return points @ w2c[:3, :3].T + w2c[:3, 3]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=60)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--split", default="test", choices=("val", "test"),
                    help="subjects of this split (tune on val, report on test)")
    ap.add_argument("--fit-option", action="append", default=[], metavar="KEY=VALUE",
                    help="override a FitConfig field of the default fit (repeatable), e.g. limb_depth_weight=10")
    ap.add_argument("--detected", action="store_true", help="fit mediapipe's detections on textured renders")
    ap.add_argument("--lifter", default=None, help="pose lifter folder (default: the shipped one)")
    ap.add_argument("--json", default=None, help="also write the per-subject numbers here")
    ap.add_argument("--sheet", type=Path, default=None,
                    help="novel-view masks of the first 6 subjects (a row each: truth | fit at az 90, 180, 270)")
    args = ap.parse_args()

    from humanmv.body.anny_model import AnnyBody
    from humanmv.body.fitting import FitConfig, FitTargets, fit_body
    from humanmv.models.pose_lifter import load_pose_lifter
    from humanmv.body.sampling import synthetic_photo
    from humanmv.data.engine import SubjectSampler
    from humanmv.data.lifting_poses import pose_set_seeds, sample_pose_set_params
    from humanmv.eval.pose3d import paired_interval, procrustes_mpjpe, scaled_mpjpe
    from humanmv.render import Renderer

    body, renderer = AnnyBody(), Renderer()
    perceiver = None
    if args.detected:
        from humanmv.perception import Perceiver

        perceiver = Perceiver()
    missed = 0
    sampler = SubjectSampler(body)
    lifter = load_pose_lifter(args.lifter)
    names = body.keypoint_names
    root = np.array([names.index("left_hip"), names.index("right_hip")])
    conf = np.ones(len(names), np.float32)
    conf[[names.index("left_small_toe"), names.index("right_small_toe")]] = 0.0
    overrides = {}
    for item in args.fit_option:
        key, _, value = item.partition("=")
        overrides[key] = None if value == "None" else type(getattr(FitConfig(), key) or 0.0)(value)
    configs = {"before": (FitConfig(limb_depth_weight=0.0, hold_unseen=False), None),
               "after": (FitConfig(**overrides), lifter)}
    S = args.size
    rows, sheets = [], []
    for i, seed in enumerate(pose_set_seeds(args.split, args.subjects)):
        params, family = sample_pose_set_params(sampler, seed, ("walking", "random", "dynamic"))
        rng = np.random.default_rng([seed, 11])
        photo = synthetic_photo(body, renderer, params, rng, S, S)
        gt, cam, mask = photo.body, photo.camera, photo.mask
        verts = gt.vertices[0]
        kp = photo.keypoints.numpy() + rng.normal(0, 0.004 * S, (len(names), 2)).astype(np.float32)
        w2c = cam.world_to_cam[0]
        gt_kp_cam = to_camera(gt.keypoints[0], w2c)
        gt_v_cam = to_camera(verts, w2c)
        distance = float(gt_kp_cam[root].mean(0)[2])
        row = {"seed": seed, "family": family}
        targets = FitTargets(S, S, kp, conf, mask.numpy())
        if perceiver is not None:
            targets = detected_targets(body, renderer, perceiver, seed, params, cam, S)
            if targets is None:
                missed += 1
                continue
        for name, (cfg, lift) in configs.items():
            try:
                fit = fit_body(body, targets, cfg, lifter=lift)
            except Exception:  # noqa: BLE001 - too few keypoints detected
                break
            with torch.no_grad():
                fitted = body(fit.params)
            fw2c = fit.camera.world_to_cam[0]
            kp_cam = to_camera(fitted.keypoints[0], fw2c)
            v_cam = to_camera(fit.vertices, fw2c)
            ious, tiles = novel_view_ious(body, renderer, gt_v_cam, v_cam, gt_kp_cam[root].mean(0),
                                          kp_cam[root].mean(0), distance)
            photo = renderer.render(body.mesh(fit.vertices), fit.camera, outputs=("mask",)).mask[0] > 0.5
            photo_iou = float(((mask > 0.5) & photo).sum() / ((mask > 0.5) | photo).sum())
            used = fit.used_keypoints.numpy() if perceiver is not None else conf > 0
            row[name] = {
                "pa_mpjpe_mm": 1000 * procrustes_mpjpe(kp_cam.numpy(), gt_kp_cam.numpy()),
                "scaled_mpjpe_mm": 1000 * scaled_mpjpe(kp_cam.numpy(), gt_kp_cam.numpy(), root),
                "novel_iou": float(np.mean(ious)), "novel_iou_per_view": ious,
                "photo_keypoint_error": float(np.linalg.norm(fit.keypoints_2d.numpy() - targets.keypoints, axis=1)[used].mean()) / S,
                "photo_iou": photo_iou, "seconds": fit.seconds,
            }
            if name == "after" and i < 6:
                sheets.append(np.concatenate(tiles, 1))
        if "after" not in row:
            missed += 1
            continue
        rows.append(row)
        b, a = row["before"], row["after"]
        print(f"{i:3d} {family:8s} PA-MPJPE {b['pa_mpjpe_mm']:5.1f} -> {a['pa_mpjpe_mm']:5.1f} mm  "
              f"scaled {b['scaled_mpjpe_mm']:5.1f} -> {a['scaled_mpjpe_mm']:5.1f}  novel IoU "
              f"{b['novel_iou']:.3f} -> {a['novel_iou']:.3f}  photo IoU {b['photo_iou']:.3f} -> "
              f"{a['photo_iou']:.3f}  {a['seconds']:.1f} s")

    print(f"\n{len(rows)} {args.split}-split subjects (walking, random, dynamic), {S}px photos"
          + (f", fitted from mediapipe on textured renders ({missed} without a usable detection)" if args.detected else ""))
    print(f"{'metric':24s} {'before':>9s} {'after':>9s}  after - before, 95% paired interval")
    for key, digits in (("pa_mpjpe_mm", 1), ("scaled_mpjpe_mm", 1), ("novel_iou", 3), ("photo_keypoint_error", 4),
                        ("photo_iou", 3)):
        a = np.array([r["before"][key] for r in rows])
        b = np.array([r["after"][key] for r in rows])
        ci = paired_interval(a, b)
        print(f"{key:24s} {a.mean():9.{digits}f} {b.mean():9.{digits}f}  {ci.text(digits)}"
              f"{'  (excludes 0)' if ci.excludes_zero else ''}")
    for fam in ("walking", "random", "dynamic"):
        sel = [r for r in rows if r["family"] == fam]
        if sel:
            print(f"  {fam:8s} n={len(sel):2d}  PA-MPJPE {np.mean([r['before']['pa_mpjpe_mm'] for r in sel]):5.1f} -> "
                  f"{np.mean([r['after']['pa_mpjpe_mm'] for r in sel]):5.1f} mm  novel IoU "
                  f"{np.mean([r['before']['novel_iou'] for r in sel]):.3f} -> {np.mean([r['after']['novel_iou'] for r in sel]):.3f}")
    print(f"median fit time: before {np.median([r['before']['seconds'] for r in rows]):.2f} s, "
          f"after {np.median([r['after']['seconds'] for r in rows]):.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.sheet and sheets:
        from humanmv.io.images import save_png

        save_png(args.sheet, (np.concatenate(sheets, 0) * 255).astype(np.uint8))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
