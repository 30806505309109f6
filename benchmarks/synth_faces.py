"""Do synthetic faces look like faces? The share of frontal views (az 0) on which dlib's HOG
face detector (the one `humanmv prune` uses) finds a face: head-bench subjects at 256x256, and
body-bench subjects with the head crop upsampled.

    .venv/bin/python benchmarks/synth_faces.py [--subjects 20] [--save faces.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def _u8(rgb: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """On a mid-grey background, as a photo would have one."""
    img = rgb * mask[..., None] + 0.5 * (1 - mask[..., None])
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _head_crop(img: np.ndarray, mask: np.ndarray, size: int = 256) -> np.ndarray:
    """The top of the silhouette (a square a sixth of its height), resized to `size`."""
    import cv2

    rows, cols = np.nonzero(mask)
    side = max(8, int((rows.max() - rows.min()) / 6))
    top, centre = rows.min(), int(np.median(cols[rows < rows.min() + side]))
    y0, x0 = max(0, top - side // 4), max(0, centre - side // 2)
    crop = img[y0:y0 + side, x0:x0 + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--save", type=Path, default=None, help="a sheet of the frontal head views")
    args = ap.parse_args()

    from humanmv.data.engine import get_preset
    from humanmv.data.synth import _engine, subject_seed
    from humanmv.perception.identity import FaceIdentifier

    torch.set_num_threads(1)
    sample_subject, render = _engine()
    dlib = FaceIdentifier()
    tiles = []
    for preset_name in ("head-bench", "body-bench"):
        preset = get_preset(preset_name)
        found = found_up = 0
        for i in range(args.subjects):
            spec = sample_subject(subject_seed(0, i), expressions=preset.expressions)
            views = render(spec, preset)
            img = _u8(views.rgb[0], views.mask[0])
            if preset.rig == "body":
                img = _head_crop(img, views.mask[0].numpy() > 0)
            else:
                tiles.append(img)
            found += bool(dlib.detect(img, upsample=0))
            found_up += bool(dlib.detect(img, upsample=1))
        what = "frontal views" if preset.rig == "head" else "frontal views, head crop upsampled to 256"
        print(f"{preset_name}: dlib HOG finds a face on {found}/{args.subjects} {what} "
              f"({found_up}/{args.subjects} with the detector's own 2x upsampling)")
    if args.save and tiles:
        from humanmv.io.grid import make_grid
        from humanmv.io.images import save_png

        save_png(args.save, make_grid(np.stack(tiles), cols=10, pad=2))


if __name__ == "__main__":
    main()
