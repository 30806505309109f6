"""Build src/humanmv/assets/anny_face_landmarks.json: MediaPipe face-mesh landmark -> Anny
vertex, by detecting landmarks on renders of the neutral Anny head (see
humanmv.body.face_landmarks). Run once when the Anny version changes:

    .venv/bin/python scripts/build_face_landmark_map.py [--preview preview.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default: the packaged asset)")
    ap.add_argument("--preview", type=Path, default=None, help="PNG showing the mapped vertices")
    args = ap.parse_args()

    from humanmv.body.anny_model import AnnyBody, BodyParams
    from humanmv.body.face_landmarks import LANDMARK_MAP_PATH, build_landmark_map
    from humanmv.perception.face import FaceMesher
    from humanmv.render import Renderer

    body, renderer, mesher = AnnyBody(), Renderer(), FaceMesher()

    def detect(rgb: np.ndarray):
        found = mesher.detect(rgb)
        return None if found is None else found.xy

    lmap, report = build_landmark_map(body, renderer, detect)
    out = args.out or LANDMARK_MAP_PATH
    out.parent.mkdir(parents=True, exist_ok=True)
    lmap.save(out)
    print(f"wrote {out}: {report['views_used']} views, mean agreement {report['mean_agreement']:.3f}, "
          f"{int((lmap.weight > 0).sum())}/478 landmarks with weight > 0")
    if args.preview:
        from humanmv.cameras import orbit_cameras
        from humanmv.io.images import save_png

        verts = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0].detach()
        head = verts[body.head_vertex_mask()]
        centre = ((head.min(0).values + head.max(0).values) / 2).tolist()
        cams = orbit_cameras([0.0, 30.0], 0.0, 0.9, 22.0, 640, 640, centre)
        out_r = renderer.render(body.mesh(verts), cams, outputs=("rgb", "mask"))
        pix, depth = cams.project(verts[lmap.vertex_index])
        imgs = []
        for c in range(2):
            img = (out_r.rgb[c].numpy() * 255).astype(np.uint8).copy()
            for (x, y), w in zip(pix[c].numpy(), lmap.weight.numpy()):
                if 0 <= int(x) < 640 and 0 <= int(y) < 640:
                    img[max(int(y) - 1, 0):int(y) + 2, max(int(x) - 1, 0):int(x) + 2] = (
                        [255, 0, 0] if w >= 0.5 else [255, 200, 0])
            imgs.append(img)
        save_png(args.preview, np.concatenate(imgs, 1))


if __name__ == "__main__":
    main()
