"""The prior generator on real photos (quality checks), with a contact sheet to look at.

Per photo: mode, seconds for a warm call, projection consistency (the textured avatar rendered
from the estimated photo camera vs the photo, PSNR inside the person mask; target >= 25 dB),
and holes (the share of mask pixels, over 16 views, whose texel nothing filled; target <= 1%).

    .venv/bin/python benchmarks/generate_photos.py [--sheet sheet.png] [PHOTO ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_photos import default_photos  # noqa: E402


def projection_psnr(pipe, result) -> float:
    subject = result.subject
    out = pipe.renderer.render(subject.avatar, subject.photo_camera, outputs=("rgb", "mask"))
    inside = (out.mask[0] > 0) & (subject.person_mask > 0.5)
    mse = ((out.rgb[0] - subject.photo) ** 2)[inside].mean()
    return float(10 * torch.log10(1 / mse))


def hole_fraction(pipe, result) -> float:
    from humanmv.body.avatar_texture import OUTSIDE

    views = result.views.cameras
    out = pipe.renderer.render(result.subject.avatar, views, outputs=("mask", "uv"))
    uv = out.uv[out.mask > 0]
    S = result.texture_source.shape[0]
    col = (uv[:, 0] * S).long().clamp(0, S - 1)
    row = ((1 - uv[:, 1]) * S).long().clamp(0, S - 1)
    return float((result.texture_source[row, col] == OUTSIDE).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", nargs="*", type=Path)
    ap.add_argument("--sheet", type=Path, default=None)
    args = ap.parse_args()

    from PIL import Image

    from humanmv.errors import HumanMVError
    from humanmv.io.grid import make_grid
    from humanmv.io.images import load_image, save_png
    from humanmv.studio import Studio

    pipe = Studio()
    rows, psnrs, holes = [], [], []
    for path in args.photos or default_photos():
        image = load_image(path)
        try:
            pipe.generate(image, views=16, size=256)  # warm the perception models on this size
            t = time.perf_counter()
            result = pipe.generate(image, views=16, size=256)
            seconds = time.perf_counter() - t
        except HumanMVError as err:
            print(f"{path.name:18s} refused: {err}")
            continue
        psnr, hole = projection_psnr(pipe, result), hole_fraction(pipe, result)
        psnrs.append(psnr)
        holes.append(hole)
        print(f"{path.name:18s} {result.subject.mode:4s} {seconds:5.2f} s  photo-view PSNR {psnr:5.2f} dB  "
              f"holes {100 * hole:.3f}%")
        rgba = (result.views.rgba[::2].clamp(0, 1) * 255).byte().numpy()
        photo = np.asarray(Image.fromarray(image.rgb).resize((256 * image.rgb.shape[1] // image.rgb.shape[0], 256)))
        strip = make_grid(rgba, cols=8, pad=2)
        pad = np.full((strip.shape[0], photo.shape[1], 3), 255, np.uint8)
        pad[:256] = photo[: strip.shape[0]]
        rows.append(np.concatenate([pad, strip], 1))
    if psnrs:
        print(f"\nmean photo-view PSNR {np.mean(psnrs):.2f} dB (min {min(psnrs):.2f}; target >= 25), "
              f"max holes {100 * max(holes):.3f}% (target <= 1%)")
    if args.sheet and rows:
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        save_png(args.sheet, np.concatenate(rows, 0))
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
