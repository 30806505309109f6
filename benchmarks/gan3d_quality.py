"""3DHumanGAN quality: pose accuracy on a pose family held out of training, and view consistency.

    python benchmarks/gan3d_quality.py --checkpoint src/humanmv/weights/gan3d-small --samples 200
    python benchmarks/gan3d_quality.py --checkpoint runs/ablation-upsampling/final --samples 200

Pose accuracy (seed 002's claim that the image follows the conditioning body): `--samples`
people, each a new z, a random body and a walking pose (`data.engine.walking_pose`, the family
the shipped model was trained without), seen from a random azimuth of the training ring. mediapipe
Pose runs on the generated image (enlarged 4x); PCK@0.1 of the 12 limb joints (shoulders to
ankles) against the conditioning body's projected joints, threshold 0.1 x the longer side of
those joints' box; a missed detection scores 0 for every joint. The ceiling: the same on a plain
grey render of the same body at the same camera.

View consistency (same z, neighbouring views): for each person, views at azimuths a and a + 15
degrees. Reprojection PSNR: every body pixel of view a is carried through the mesh depth into
view a + 15 and compared with the colour there, where both views see the same surface
(`eval.consistency.reprojection_psnr`, as `bench`). Cross-view appearance: per body part, the mean CIE-Lab colour in each view; CIE76 dE
between the two, averaged over parts seen in both by >= 8 pixels.

Set-level figures against the training data (`--data`, the model's own training set):
- Fréchet distance on ST-LPIPS AlexNet features (`eval.feature_distances`; NOT FID) between the
  generated people and as many real views of the held-out walking family, next to its floor: the
  same distance between two disjoint real walking sets of that size.
- Memorisation: each image's nearest-training-view ST-LPIPS distance (`--bank` random training
  views, walking excluded as in training), median over the generated people and over held-out
  real walking views; a generator that copies has a ratio well below 1, and "near copies" counts
  the samples nearer the bank than 95% of the real held-out views are.

FID/KID need Inception weights, which are not shipped: reported as unavailable.
Prints a table; --json writes the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from completion_clothed import lab  # noqa: E402  (CIE-Lab of sRGB views, one definition)

LIMBS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
         "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
DETECT_SCALE = 4
NEIGHBOUR_DEG = 15.0


def grey_render(renderer, posed, cameras) -> torch.Tensor:
    """[C, H, W, 3] the bare body shaded grey by its normals' facing ratio, on white."""
    out = renderer.render(posed.mesh(), cameras, outputs=("mask", "normal"))
    facing = out.normal[..., 2].abs() if out.normal is not None else torch.ones_like(out.mask)
    grey = (0.35 + 0.5 * facing)[..., None].expand(-1, -1, -1, 3)
    m = out.mask[..., None]
    return grey * m + (1 - m)


def pck(estimator, image: torch.Tensor, truth: np.ndarray, limb_index: list[int]) -> float:
    """PCK@0.1 of one [H, W, 3] image in [0, 1] against truth (K, 2) pixels; 0 on a miss."""
    big = F.interpolate(image.permute(2, 0, 1)[None], scale_factor=DETECT_SCALE, mode="bilinear",
                        align_corners=False)[0].permute(1, 2, 0)
    found = estimator.detect(np.ascontiguousarray((big.clamp(0, 1) * 255).round().byte().numpy()))
    if found is None:
        return 0.0
    xy, _ = found.keypoints.coco()
    guess = xy[limb_index] / DETECT_SCALE
    true = truth[limb_index]
    size = float(max(np.ptp(true[:, 0]), np.ptp(true[:, 1])))
    return float((np.linalg.norm(guess - true, axis=1) <= 0.1 * size).mean())


def consistency(renderer, posed, cams, views, num_parts: int) -> tuple[float, float]:
    """(PSNR dB of view 0 carried into view 1 through the body's depth, per-part dE between them).
    cams: 2 cameras at the image size; views: their SampledViews."""
    from humanmv.eval.consistency import reprojection_psnr
    from humanmv.models.gan3d import render_labels

    on_white = views.on_white()
    depth = renderer.render(posed.mesh(), cams, outputs=("depth",)).depth.cpu()
    psnr = reprojection_psnr(on_white, depth, cams, [(0, 1)], min_pixels=16, mask=views.mask)[0]
    labels = render_labels(posed, cams, renderer)
    colours = lab(on_white)
    deltas = []
    for part in range(num_parts):
        sel = [labels[v] == part for v in range(2)]
        if all(int(s.sum()) >= 8 for s in sel):
            deltas.append(float((colours[0][sel[0]].mean(0) - colours[1][sel[1]].mean(0)).norm()))
    return float("nan") if psnr is None else psnr, float(np.mean(deltas)) if deltas else float("nan")


def real_views(data: str, body, config, count: int, seed: int, **select) -> torch.Tensor:
    """[count, 3, H, W] in [0, 1]: random portrait-framed views of `data` (GAN3DViews(**select))."""
    from humanmv.data.format import read_subject
    from humanmv.data.gan3d_views import GAN3DViews, portrait_box, portrait_crop

    views = GAN3DViews(data, body, config.image_height, config.image_width, **select)  # the selection only
    pick = np.random.default_rng(seed).choice(len(views), size=min(count, len(views)), replace=False)
    H, W = config.image_height, config.image_width
    crops = []
    for i in pick:  # an item's rgb, without the body-label render an item also makes
        s, v = views.items[int(i)]
        view = read_subject(views.root / "subjects" / views.subjects[s][0], layers=("rgb", "mask"), views=[v])
        rgb, _, _ = portrait_crop(view.rgb[0], view.mask[0], portrait_box(view.mask[0], H, W, views.margin), H, W)
        crops.append((rgb + 1) / 2)
    return torch.stack(crops)


def set_figures(body, G, generated: torch.Tensor, args) -> dict[str, float]:
    """Fréchet (ST-LPIPS features) and memorisation figures (module docstring)."""
    from humanmv.eval.feature_distances import frechet_lpips_distance, lpips_features, nearest_training_distance
    from humanmv.eval.stlpips_weights import load_stlpips

    t = time.perf_counter()
    alex = load_stlpips("alex")
    n = len(generated)
    walking = real_views(args.data, body, G.config, 2 * n, args.seed, split=None, pose_families=("walking",))
    held_out, other = walking[:n], walking[n:]
    bank = real_views(args.data, body, G.config, args.bank, args.seed + 1, split="train",
                      exclude_pose_families=("walking",))
    bank_features = lpips_features(alex, bank)
    gen_near, _ = nearest_training_distance(alex, generated, bank, bank_features=bank_features)
    real_near, _ = nearest_training_distance(alex, held_out, bank, bank_features=bank_features)
    figures = {
        "frechet_stlpips_gan_vs_real": frechet_lpips_distance(alex, generated, held_out),
        "frechet_stlpips_real_floor": frechet_lpips_distance(alex, held_out, other) if len(other) >= 2 else float("nan"),
        "nearest_train_gan_median": float(gen_near.median()),
        "nearest_train_real_median": float(real_near.median()),
        "near_copies_share": float((gen_near < real_near.quantile(0.05)).float().mean()),
    }
    figures["nearest_train_ratio"] = figures["nearest_train_gan_median"] / figures["nearest_train_real_median"]
    figures["set_seconds"] = time.perf_counter() - t
    return figures


def interval(values: list[float]) -> str:
    v = np.array([x for x in values if math.isfinite(x)])
    if len(v) < 2:
        return "n/a"
    half = 1.96 * v.std(ddof=1) / math.sqrt(len(v))
    return f"{v.mean():.3f} [{v.mean() - half:.3f}, {v.mean() + half:.3f}] (n={len(v)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="generator folder (default: the shipped gan3d-small)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000, help="people and views (not the training seed)")
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument("--data", default="data/body-train-clothed", help="the training dataset ('' = skip the set-level figures)")
    parser.add_argument("--bank", type=int, default=1000, help="training views searched for nearest neighbours")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)

    from humanmv.body.anny_model import AnnyBody
    from humanmv.cameras import ring_azimuths
    from humanmv.models.gan3d import GAN3DGenerator
    from humanmv.perception.keypoints import PoseEstimator
    from humanmv.pipelines.gan3d_sampling import DEFAULT_CHECKPOINT, GAN3DSampleConfig, GAN3DSampler, person_bodies
    from humanmv.render import Renderer

    body, renderer = AnnyBody(), Renderer()
    G = GAN3DGenerator.from_pretrained(args.checkpoint or DEFAULT_CHECKPOINT)
    sampler = GAN3DSampler(G, body, renderer)
    people = person_bodies(GAN3DSampleConfig(out="-", pose="walk", count=args.samples, seed=args.seed), body)
    z = torch.randn(args.samples, G.config.z_dim, generator=torch.Generator().manual_seed(args.seed))
    rng = np.random.default_rng(args.seed)
    ring = ring_azimuths(24).tolist()
    names = body.keypoint_names
    limb_index = [names.index(n) for n in LIMBS]
    estimator = PoseEstimator()
    rows = {"pck_gan": [], "pck_grey": [], "reprojection_psnr": [], "part_delta_e": []}
    generated = []
    t = time.perf_counter()
    for k, [(params, _)] in enumerate(people):
        posed = sampler.posed(params)
        az = float(ring[int(rng.integers(len(ring)))])
        cams = sampler.portrait_cameras(posed, [az, az + NEIGHBOUR_DEG])
        views = sampler(z[k], posed, cams, args.truncation)
        with torch.no_grad():
            joints = body(params).keypoints[0]
        truth = cams[[0]].project(joints)[0][0].numpy()
        generated.append(views.on_white()[0].permute(2, 0, 1))
        rows["pck_gan"].append(pck(estimator, views.on_white()[0], truth, limb_index))
        rows["pck_grey"].append(pck(estimator, grey_render(renderer, posed, cams[[0]])[0], truth, limb_index))
        psnr, delta_e = consistency(renderer, posed, cams, views, G.config.num_parts)
        rows["reprojection_psnr"].append(psnr)
        rows["part_delta_e"].append(delta_e)
    seconds = time.perf_counter() - t
    print(f"gan3d quality: {args.samples} walking people (held-out family), checkpoint "
          f"{args.checkpoint or DEFAULT_CHECKPOINT}, truncation {args.truncation}, {seconds:.0f} s")
    print(f"{'metric':<28} mean [95% interval]")
    for name, values in rows.items():
        print(f"{name:<28} {interval(values)}")
    print(f"{'FID / KID':<28} unavailable: no Inception weights are shipped (none may be downloaded)")
    sets = set_figures(body, G, torch.stack(generated), args) if args.data else {}
    for name, value in sets.items():
        print(f"{name:<28} {value:.4g}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "seconds": seconds, "per_sample": rows,
                                               "sets": sets}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
