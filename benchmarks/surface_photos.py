"""The surface stage on real full-body photos (no ground truth beyond the photo itself): the
photo-view silhouette IoU of the naked fit and of the dressed avatar against the person mask,
what shells were kept, the stage's time and what it adds to `generate` (both runs from the same
photo fit), the process's peak RSS; and a sheet of each avatar all round to look at.

    .venv/bin/python benchmarks/surface_photos.py [--sheet surface_photos.png] [--generator prior] [PHOTO ...]

Default photos: the full-body ones `scripts/fetch_example_photos.sh` puts in
$HUMANMV_CACHE/examples (messi5.jpg, person.jpg, basketball1.png).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

FULL_BODY = ("messi5.jpg", "person.jpg", "basketball1.png")


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", nargs="*", type=Path)
    ap.add_argument("--generator", default="prior")
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--views", type=int, default=8)
    args = ap.parse_args()
    from humanmv.eval.image_metrics import mask_iou
    from humanmv.io.grid import make_grid
    from humanmv.io.images import load_image, save_png
    from humanmv.paths import cache_dir
    from humanmv.studio import Studio

    photos = args.photos or [cache_dir() / "examples" / n for n in FULL_BODY]
    studio = Studio(texture_size=1024)
    rows, tiles = [], []
    for path in photos:
        image = load_image(path)
        fit = studio.fitter(image)
        t = time.perf_counter()
        base = studio.generate(image, args.generator, photo_fit=fit, views=args.views, size=256)
        naked_s = time.perf_counter() - t
        t = time.perf_counter()
        dressed = studio.generate(image, args.generator, photo_fit=fit, views=args.views, size=256,
                                  reconstruct="surface")
        seconds = time.perf_counter() - t
        cam = fit.fit.camera
        mask = torch.from_numpy(fit.perception.mask).float()
        naked = studio.renderer.render(base.avatar.mesh, cam, outputs=("mask",)).mask[0]
        worn = studio.renderer.render(dressed.avatar.mesh, cam, outputs=("mask",)).mask[0]
        kept = [s.kind for s in dressed.avatar.shell_specs or []]
        surface_s = dressed.timings.get("reconstruct_surface", float("nan"))
        naked_iou, worn_iou = (float(mask_iou(m[None], mask[None])) for m in (naked, worn))
        rows.append((path.name, naked_iou, worn_iou, kept, surface_s, seconds - naked_s))
        print(f"{path.name:16s} photo-view IoU naked {rows[-1][1]:.3f} -> surface {rows[-1][2]:.3f}  "
              f"shells {kept}  surface stage {surface_s:.2f} s; generate {naked_s:.1f} s -> {seconds:.1f} s "
              f"(+{seconds - naked_s:.1f} s)", flush=True)
        for views in (base.views, dressed.views):
            tiles.append((views.on_white().clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    if rows:
        print(f"mean photo-view IoU naked {np.mean([r[1] for r in rows]):.3f} -> surface "
              f"{np.mean([r[2] for r in rows]):.3f}; surface stage {np.mean([r[4] for r in rows]):.2f} s mean, "
              f"generate +{np.mean([r[5] for r in rows]):.2f} s mean; peak RSS {peak_rss_gb():.2f} GB")
    if args.sheet and tiles:
        save_png(args.sheet, make_grid(np.concatenate(tiles), cols=args.views, pad=2))
        print(f"sheet (per photo: naked row, dressed row) -> {args.sheet}")


if __name__ == "__main__":
    main()
