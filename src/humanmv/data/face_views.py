"""Face crops of synthetic subjects: the face stage's training items (seed 000, stage 2).

    ds = FaceCropViews("data/head-train-haired", body, size=128, views=4)
    item = ds[0]

Each subject's body is in its meta.json, so the face's box in every rig view is known
(`body.face_regions`); an item is one subject and up to `views` of its face-visible rig views
(|angle| <= `max_angle`, drawn per (seed, epoch, index)), with:

    target [N, 3, s, s]       the ground-truth views cut to the face boxes, on white, in [0, 1]
    face_mask [N, s, s]       the face's pixels in each crop, the body as occluder (hair shells
                              are not: a fringe over the brow stays inside the mask)
    conditions [N, 11, s, s]  `face_conditions` in the crops' own cameras: normals, mask, the 7
                              landmark-group heatmaps (the 3D face-structure features)
    camera [N, 12]            each crop's camera relative to the input's (`models.camera`)
    reference [3, s, s]       the input photo's face crop (the reference stream)
    shape [6 + E]             the fitted face shape: phenotype and facial actions
    identity [128]            dlib's embedding of the input face (zeros when dlib misses it);
    has_identity              bool; angle [N] degrees; subject str

Crops of the head presets' 256 px views are near their native resolution; a body preset's face
is ~30 px and its crops are upsampled (what the stage sees of a body view at inference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError


class FaceCropViews(Dataset):
    """Face crops of the subjects of one split (module docstring). Reads with its own renderer
    in the process that uses it (DataLoader num_workers=0, or spawned workers)."""

    def __init__(self, root: str | Path, body, size: int = 128, views: int = 4, split: str | None = "train",
                 max_angle: float = 100.0, seed: int = 0, renderer=None, identifier=None) -> None:
        self.root, self.body, self.size, self.views = Path(root), body, size, views
        self.max_angle, self.seed, self.epoch = max_angle, seed, 0
        self.subjects = finished_subjects(self.root, split)
        if not self.subjects:
            raise ConfigError(f"{root}: no finished subjects in split {split!r}; write some with humanmv synth")
        self._renderer, self._identifier = renderer, identifier
        self._identity: dict[str, np.ndarray | None] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.subjects)

    @property
    def renderer(self):
        if self._renderer is None:
            from humanmv.render import Renderer

            self._renderer = Renderer()
        return self._renderer

    def identity(self, name: str, reference: torch.Tensor) -> np.ndarray | None:
        """dlib's 128-D embedding of a subject's input face crop [3, s, s] (cached per subject)."""
        if name not in self._identity:
            if self._identifier is None:
                from humanmv.perception.identity import FaceIdentifier

                self._identifier = FaceIdentifier()
            rgb = np.ascontiguousarray((reference.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())
            found = self._identifier.identify(rgb, name=name)
            self._identity[name] = None if found is None else np.asarray(found.embedding, np.float32)
        return self._identity[name]

    def __getitem__(self, index: int) -> dict:
        from humanmv.body.anny_model import BodyParams
        from humanmv.body.face_conditions import face_conditions
        from humanmv.body.face_regions import face_regions
        from humanmv.models.camera import camera_features

        name = self.subjects[index]
        folder = self.root / "subjects" / name
        meta = json.loads((folder / "meta.json").read_text())
        if "body" not in meta:
            raise ConfigError(f"{folder}: meta.json has no body; face crops need a synthetic subject")
        subject = read_subject(folder, layers=("rgb", "mask"))
        names = subject.cameras.names
        if names[-1] != "input":
            raise ConfigError(f"{folder}: the last view must be the 'input' view (a humanmv synth subject)")
        params = BodyParams.from_dict(meta["body"], self.body.expression_names)
        with torch.no_grad():
            vertices = self.body(params).vertices[0]
        regions = face_regions(self.body, vertices, subject.cameras, self.renderer, max_angle=self.max_angle)
        if not regions.visible[-1]:
            raise ConfigError(f"{folder}: the input view shows no face; face crops need a face in the photo")
        rig = [i for i in regions.indices if i < len(names) - 1]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        pick = sorted(rng.choice(rig, size=min(self.views, len(rig)), replace=False).tolist())
        on_white = subject.on_white()
        crops = regions.crop(on_white, self.size).permute(0, 3, 1, 2).clamp(0, 1)  # [visible, 3, s, s]
        masks = regions.crop(regions.masks[..., None], self.size)[..., 0]
        row = {v: k for k, v in enumerate(regions.indices)}
        crop_cameras = regions.crop_cameras(subject.cameras, self.size)
        chosen = [row[v] for v in pick]
        cond = face_conditions(self.body, vertices, crop_cameras[chosen], self.renderer)
        reference = crops[row[len(names) - 1]]
        embedding = self.identity(name, reference)
        return {
            "target": crops[chosen],
            "face_mask": (masks[chosen] > 0.5).float(),
            "conditions": cond.channels_first(),
            "camera": camera_features(subject.cameras.world_to_cam[pick], subject.cameras.world_to_cam[-1]),
            "reference": reference,
            "shape": torch.cat([params.phenotype[0], params.expression[0]]),
            "identity": torch.zeros(128) if embedding is None else torch.from_numpy(embedding),
            "has_identity": embedding is not None,
            "angle": regions.angle[pick],
            "subject": name,
        }


__all__ = ["FaceCropViews"]
