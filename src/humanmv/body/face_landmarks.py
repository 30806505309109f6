"""Correspondence between MediaPipe's 478 face-mesh landmarks and Anny's vertices.

No such table exists for Anny, so we build one the way a person would label it: render the
neutral Anny head from a fan of near-frontal views, run the face-mesh detector on each render,
and let every landmark vote for the visible vertex under it. The winning vertex is kept, with
a weight from how consistently the views agreed; the face-oval landmarks (which slide along
the silhouette as the head turns) are down-weighted. `scripts/build_face_landmark_map.py`
writes the table to `assets/anny_face_landmarks.json`; fitting only reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from humanmv.paths import ASSETS_DIR

LANDMARK_MAP_PATH = ASSETS_DIR / "anny_face_landmarks.json"
NUM_LANDMARKS = 478
OVAL_WEIGHT = 0.3


@dataclass
class LandmarkMap:
    """vertex_index: (478,) int64 Anny vertex per landmark; weight: (478,) float32 in [0, 1]."""

    vertex_index: torch.Tensor
    weight: torch.Tensor

    def save(self, path: Path = LANDMARK_MAP_PATH) -> None:
        path.write_text(json.dumps({
            "about": "MediaPipe face-mesh landmark -> Anny vertex (anny 0.6.2 default topology); "
                     "built by scripts/build_face_landmark_map.py",
            "vertex_index": self.vertex_index.tolist(),
            "weight": [round(float(w), 4) for w in self.weight],
        }))

    @classmethod
    def load(cls, path: Path = LANDMARK_MAP_PATH) -> "LandmarkMap":
        data = json.loads(Path(path).read_text())
        return cls(torch.tensor(data["vertex_index"], dtype=torch.long),
                   torch.tensor(data["weight"], dtype=torch.float32))


def face_oval_indices() -> set[int]:
    """Landmarks on MediaPipe's face oval (the silhouette contour)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL

    return {i for edge in FACEMESH_FACE_OVAL for i in edge}


def build_landmark_map(body, renderer, detect: Callable[[np.ndarray], np.ndarray | None],
                       azimuths=(-24, -12, 0, 12, 24), elevations=(-8, 0, 8),
                       size: int = 640) -> tuple[LandmarkMap, dict]:
    """Build the table by voting over renders of the neutral head.

    Args:
        body: AnnyBody. renderer: render.Renderer.
        detect: rgb (H, W, 3) uint8 -> (478, 2) landmark pixels, or None if no face was found.
    Returns:
        the map and a report (views used, per-landmark agreement).
    """
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import orbit_cameras

    with torch.no_grad():
        verts = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0]
    head = verts[body.head_vertex_mask()]
    centre = (head.min(0).values + head.max(0).values) / 2
    # Skin-coloured, so the detector sees a face rather than a grey statue.
    colors = torch.tensor([0.85, 0.68, 0.58]).expand(len(verts), 3).clone()
    mesh = body.mesh(verts, vertex_colors=colors)
    votes = [dict() for _ in range(NUM_LANDMARKS)]
    used = 0
    for el in elevations:
        cams = orbit_cameras(list(azimuths), el, distance=0.9, fov_deg=22.0, width=size,
                             height=size, target=centre.tolist())
        out = renderer.render(mesh, cams, outputs=("rgb", "face_id", "normal", "mask"))
        for c in range(len(cams)):
            shade = out.normal[c, ..., 2].abs().clamp(0.25, 1.0)[..., None]  # n . view
            rgb = (out.rgb[c] * (0.35 + 0.65 * shade)).clamp(0, 1)
            rgb = torch.where(out.mask[c, ..., None] > 0, rgb, torch.ones_like(rgb))
            pts = detect((rgb.numpy() * 255).astype(np.uint8))
            if pts is None:
                continue
            used += 1
            face_id = out.face_id[c].numpy()
            pix, _ = cams[c].project(verts)
            pix = pix[0].numpy()
            for i, (x, y) in enumerate(pts):
                xi, yi = int(x), int(y)
                if not (0 <= xi < size and 0 <= yi < size) or face_id[yi, xi] < 0:
                    continue
                tri = body.faces[face_id[yi, xi]].numpy()
                best = tri[np.argmin(np.linalg.norm(pix[tri] - (x, y), axis=1))]
                votes[i][int(best)] = votes[i].get(int(best), 0) + 1
    if used == 0:
        raise RuntimeError("the face-mesh detector found no face on any render of Anny's head")
    index = torch.zeros(NUM_LANDMARKS, dtype=torch.long)
    weight = torch.zeros(NUM_LANDMARKS)
    # Landmarks never seen (rare) take the vertex of their nearest seen neighbour in 3D later;
    # with our fan of views every landmark is seen, so they just get weight 0.
    oval = face_oval_indices()
    agreement = []
    for i, v in enumerate(votes):
        if not v:
            agreement.append(0.0)
            continue
        best, count = max(v.items(), key=lambda kv: kv[1])
        # Votes for neighbouring vertices also agree; count votes within 1 cm of the winner.
        near = sum(n for vid, n in v.items() if float((verts[vid] - verts[best]).norm()) < 0.01)
        index[i] = best
        agreement.append(near / used)
        weight[i] = (OVAL_WEIGHT if i in oval else 1.0) * min(1.0, near / used)
    return LandmarkMap(index, weight), {"views_used": used, "mean_agreement": float(np.mean(agreement))}
