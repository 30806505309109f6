"""A contact sheet of faces with and without the face stage, to look at (no scores).

For each photo: mvdiff at --views 8 (azimuths 0, 45, ..., 315) with the face stage and without
(`refine=none`), the final views (after views -> 3D) cut to the refitted body's face box at
0, +-45 and +-90 degrees; rows per photo: without | with | with minus without (x4, on grey).

    .venv/bin/python benchmarks/face_stage_sheet.py PHOTO [PHOTO ...] --out sheet.png [--size 384]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

AZIMUTHS = (0, 1, 2, 6, 7)  # view indices of 0, 45, 90, 270 (-90), 315 (-45) among 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--crop", type=int, default=96)
    args = parser.parse_args()

    from humanmv.body.face_regions import face_regions
    from humanmv.io.grid import save_grid
    from humanmv.io.images import load_image
    from humanmv.studio import Studio

    studio = Studio(texture_size=1024)
    tiles = []
    for path in args.photos:
        photo = load_image(path)
        fit = studio.fitter(photo, mode="body", seed=0)
        rows = []
        for options in ({"refine": "none"}, {"refine": "face"}):
            result = studio.generate(photo, "mvdiff", options=options, photo_fit=fit, views=8, size=args.size)
            regions = face_regions(studio.body, result.avatar.mesh.vertices, result.views.cameras, studio.renderer,
                                   max_angle=180.0)
            crops = regions.crop(result.views.on_white(), args.crop)   # [visible, c, c, 3]
            at = {v: k for k, v in enumerate(regions.indices)}
            blank = torch.ones(args.crop, args.crop, 3)
            rows.append(torch.stack([crops[at[i]] if i in at else blank for i in AZIMUTHS]))
            print(f"{path.name} {'with' if options['refine'] == 'face' else 'without'} face stage: "
                  f"{result.notes.get('face_stage', {})}", flush=True)
        diff = ((rows[1] - rows[0]) * 4 + 0.5).clamp(0, 1)
        tiles += [rows[0], rows[1], diff]
    save_grid(args.out, torch.cat(tiles), cols=len(AZIMUTHS), pad=2)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
