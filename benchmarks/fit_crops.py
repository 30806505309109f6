"""Partial bodies: photos cut at the waist or the thighs, fitted before and after the unseen-part
hold and the pose lifter; the legs the photo does not show should stay straight and neutral.

Each full-body photo (messi5.jpg, person.jpg, basketball1.png from `scripts/fetch_example_photos.sh`)
is perceived once uncropped to find its hips and knees, then cut just below the hips ("waist")
and halfway down the thighs ("thighs"); examples/astronaut.jpg is cut at the waist already.
For each crop and fit: which parts fit.json calls seen, and each unseen leg bone's rotation away
from the neutral pose (degrees; acceptance: within 10°). A sheet (overlay | left-side normal
map, before then after, one row per crop) is written to look at.

    .venv/bin/python benchmarks/fit_crops.py [--sheet crops.png] [--json crops.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEG_BONES = ("upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R")
BONE_PART = {"upperleg01.L": "upper_leg.L", "lowerleg01.L": "lower_leg.L", "foot.L": "foot.L",
             "upperleg01.R": "upper_leg.R", "lowerleg01.R": "lower_leg.R", "foot.R": "foot.R"}


def crops(pipe) -> list[tuple[str, object]]:
    """(name, LoadedImage) of every crop."""
    from humanmv.io.images import LoadedImage, load_image
    from humanmv.paths import cache_dir

    out = [("astronaut (waist)", load_image(ROOT / "examples" / "astronaut.jpg"))]
    for name in ("messi5.jpg", "person.jpg", "basketball1.png"):
        image = load_image(cache_dir() / "examples" / name)
        p = pipe.perceiver.perceive(image.rgb, need_identity=False, name=name)
        n = p.coco_names
        y = lambda k: float(p.coco_xy[n.index(k)][1])  # noqa: E731
        hip = (y("left_hip") + y("right_hip")) / 2
        knee = (y("left_knee") + y("right_knee")) / 2
        for label, bottom in (("waist", hip + 0.12 * (knee - hip)), ("thighs", hip + 0.5 * (knee - hip))):
            rgb = np.ascontiguousarray(image.rgb[: int(round(bottom))])
            out.append((f"{name} ({label})", LoadedImage(rgb, None, image.path)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from humanmv.body.anny_model import POSE_BONES
    from humanmv.body.fitting import FitConfig
    from humanmv.pipelines.fitting import FitPipeline, overlay_image

    after = FitPipeline()
    before = FitPipeline(body_config=FitConfig(limb_depth_weight=0.0, hold_unseen=False), lifter=None)
    rows, tiles = [], []
    for name, image in crops(after):
        perception = after.perceiver.perceive(image.rgb, need_identity=False, name=name)
        row = {"photo": name, "size": [image.width, image.height]}
        line = []
        fits = {label: pipe(image, mode="body", perception=perception)
                for label, pipe in (("before", before), ("after", after))}
        seen = fits["after"].fit.seen_parts  # what the photo shows, by the default fit's rule
        unseen = [b for b in LEG_BONES if not seen[BONE_PART[b]]]
        for label, pipe in (("before", before), ("after", after)):
            pf = fits[label]
            pose = pf.fit.params.pose[0]
            angles = {b: math.degrees(float(pose[POSE_BONES.index(b)].norm())) for b in LEG_BONES}
            row[label] = {"angles_deg": {b: round(a, 1) for b, a in angles.items()},
                          "unseen_bones": unseen, "max_unseen_deg": round(max([angles[b] for b in unseen], default=0.0), 1),
                          "seen_parts": pf.fit.seen_parts, "silhouette_iou": pf.silhouette_iou}
            overlay = overlay_image(image.rgb, pf.photo_render["shaded"], pf.photo_render["mask"])
            _, normals = pipe.fit_views(pf, 256)
            line += [_fit_height(overlay, 256), (normals[1].numpy() * 255).astype(np.uint8)]
        tiles.append(np.concatenate(line, 1))
        rows.append(row)
        print(f"{name:24s} unseen legs: {', '.join(row['after']['unseen_bones']) or 'none':60s} "
              f"max angle {row['before']['max_unseen_deg']:5.1f} -> {row['after']['max_unseen_deg']:5.1f} deg  "
              f"IoU {row['before']['silhouette_iou']:.3f} -> {row['after']['silhouette_iou']:.3f}")
    ok = all(r["after"]["max_unseen_deg"] <= 10.0 for r in rows)
    print(f"{len(rows)} crops; every unseen leg bone within 10 deg of neutral after: {ok}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.sheet:
        from humanmv.io.images import save_png

        width = max(t.shape[1] for t in tiles)
        save_png(args.sheet, np.concatenate([np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))) for t in tiles], 0))


def _fit_height(img: np.ndarray, h: int) -> np.ndarray:
    from PIL import Image

    w = max(1, int(round(img.shape[1] * h / img.shape[0])))
    return np.asarray(Image.fromarray(img).resize((min(w, 2 * h), h)))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
