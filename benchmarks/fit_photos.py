"""Fit every example photo and report what a user would see: mode, silhouette IoU against the
person mask (body mode), landmark error (head mode), time per photo; and a contact sheet of
the overlays to look at.

The full-body photos come from Debian packages (`bash scripts/fetch_example_photos.sh` puts
them in $HUMANMV_CACHE/examples); the two bundled ones are in examples/.

    .venv/bin/python benchmarks/fit_photos.py [--sheet overlays.png] [PHOTO ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def default_photos() -> list[Path]:
    from humanmv.paths import cache_dir

    photos = sorted((ROOT / "examples").glob("*.jpg"))
    fetched = cache_dir() / "examples"
    photos += sorted(p for p in fetched.glob("*") if p.suffix in (".jpg", ".png"))
    return photos


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", nargs="*", type=Path)
    ap.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of overlays")
    ap.add_argument("--before", action="store_true",
                    help="the fit without the pose lifter and the unseen-part hold, to compare")
    args = ap.parse_args()
    photos = args.photos or default_photos()

    from humanmv.errors import HumanMVError
    from humanmv.io.images import load_image, save_png
    from humanmv.pipelines.fitting import FitPipeline, fit_summary, overlay_image

    t = time.perf_counter()
    if args.before:
        from humanmv.body.fitting import FitConfig

        pipe = FitPipeline(body_config=FitConfig(limb_depth_weight=0.0, hold_unseen=False), lifter=None)
    else:
        pipe = FitPipeline()
    print(f"pipeline built in {time.perf_counter() - t:.1f} s")
    tiles = []
    for path in photos:
        image = load_image(path)
        t = time.perf_counter()
        try:
            pf = pipe(image)
        except HumanMVError as err:  # a photo humanmv cannot use is a result too
            print(f"{path.name:18s} refused: {err}")
            continue
        seconds = time.perf_counter() - t
        summary = fit_summary(pf, pipe.body)
        metrics = dict(summary["metrics"])
        unseen = [k for k, v in summary.get("parts_seen", {}).items() if not v]
        if unseen:
            metrics["unseen"] = ",".join(unseen)
        shown = ", ".join(f"{k} {v}" for k, v in metrics.items())
        print(f"{path.name:18s} {pf.fit.mode:4s} {seconds:5.2f} s  {shown}")
        overlay = overlay_image(image.rgb, pf.photo_render["shaded"], pf.photo_render["mask"])
        h = 320
        w = int(round(overlay.shape[1] * h / overlay.shape[0]))
        from PIL import Image

        tiles.append(np.asarray(Image.fromarray(overlay).resize((w, h))))
    if args.sheet and tiles:
        save_png(args.sheet, np.concatenate(tiles, axis=1))
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
