"""Face crops of synthetic subjects: the face stage's training items (seed 000, stage 2).

    ds = FaceCropViews("data/head-train-haired", body, size=128, views=4)
    item = ds[0]

Each subject's body is in its meta.json, so the face's box in every rig view is known
(`body.face_regions`); an item is one subject and up to `views` of its face-visible rig views
(|angle| <= `max_angle`, drawn per (seed, epoch, index)), with (N views, s = size):

    target [N, 4, s, s]       the ground-truth views cut to the face boxes: RGB on white + alpha
    coarse [N, 4, s, s]       the target degraded as a body view's generated face is at inference
                              (`degrade_faces`: shrunk to 10-40 px, blurred back up, shifted and
                              rescaled by a few percent, colour gains): the stage's input and start
    normal [N, 3, s, s]       the body's camera-space normals, (n + 1) / 2, white off the body
    extra [N, 8, s, s]        the face mask render and the 7 landmark-group heatmaps
                              (`body.face_conditions`: the 3D face-structure maps)
    face_mask [N, s, s]       the face's pixels in each crop, the body as occluder (hair shells
                              are not: a fringe over the brow stays inside the mask)
    camera [N, 12]            each crop's camera relative to the input's (`models.camera`)
    reference [4, s, s]       the input photo's face crop, RGBA (the reference stream); half the
                              items shrink it to 24-128 px first (small faces of full-body photos)
    reference_conditions [7, s, s], reference_extra [8, s, s]: the same maps at the input crop
                              (the reference's own RGBA as its coarse)
    shape [6 + E]             the face shape: phenotype and facial actions
    identity [128]            dlib's embedding of the clean input face (zeros when dlib misses it);
    has_identity              bool; angle [N] degrees; subject str

`colour_augment` of the items get one random colour transform on reference, coarse and target
alike (`data.colour_augment`, at `colour_strength`), so colours must come from the reference.
Crops of the head presets' 256 px views are near their native resolution; a body preset's face
is ~30 px and its crops are upsampled (what the stage sees of a body view at inference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from humanmv.data.colour_augment import apply_colour_jitter, sample_colour_jitter
from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError


class FaceCropViews(Dataset):
    """Face crops of the subjects of one split (module docstring). Reads with its own renderer
    in the process that uses it (DataLoader num_workers=0, or spawned workers)."""

    def __init__(self, root: str | Path, body, size: int = 128, views: int = 4, split: str | None = "train",
                 max_angle: float = 100.0, seed: int = 0, renderer=None, identifier=None,
                 colour_augment: float = 0.0, colour_strength: float = 0.35, degrade: bool = True) -> None:
        self.root, self.body, self.size, self.views = Path(root), body, size, views
        self.max_angle, self.seed, self.epoch = max_angle, seed, 0
        self.colour_augment, self.colour_strength, self.degrade = colour_augment, colour_strength, degrade
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
            from humanmv.eval.identity_metrics import to_uint8_rgb

            found = self._identifier.identify(to_uint8_rgb(reference), name=name)
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
        rgba = torch.cat([subject.on_white(), subject.mask[..., None].float()], dim=-1)  # [C, H, W, 4]
        crops = regions.crop(rgba, self.size).permute(0, 3, 1, 2).clamp(0, 1)  # [visible, 4, s, s]
        masks = regions.crop(regions.masks[..., None], self.size)[..., 0]
        row = {v: k for k, v in enumerate(regions.indices)}
        crop_cameras = regions.crop_cameras(subject.cameras, self.size)
        chosen = [row[v] for v in pick]
        source = row[len(names) - 1]
        cond = face_conditions(self.body, vertices, crop_cameras[chosen + [source]], self.renderer)
        normal, extra = condition_maps(cond)
        clean_reference = crops[source]
        embedding = self.identity(name, clean_reference[:3])
        target = crops[chosen]
        coarse = degrade_faces(target, rng) if self.degrade else target.clone()
        reference = clean_reference
        if self.degrade and rng.random() < 0.5:
            side = int(round(np.exp(rng.uniform(np.log(24), np.log(self.size)))))
            reference = _shrink(reference[None], side)[0]
        if rng.random() < self.colour_augment:
            jitter = sample_colour_jitter(rng, self.colour_strength)
            target, coarse, reference = (torch.cat([apply_colour_jitter(x[:, :3], x[:, 3:], jitter), x[:, 3:]], 1)
                                         for x in (target, coarse, reference[None]))
            reference = reference[0]
        return {
            "target": target,
            "coarse": coarse,
            "normal": normal[:-1],
            "extra": extra[:-1],
            "face_mask": (masks[chosen] > 0.5).float(),
            "camera": camera_features(subject.cameras.world_to_cam[pick], subject.cameras.world_to_cam[-1]),
            "reference": reference,
            "reference_conditions": torch.cat([reference, normal[-1]]),
            "reference_extra": extra[-1],
            "shape": torch.cat([params.phenotype[0], params.expression[0]]),
            "identity": torch.zeros(128) if embedding is None else torch.from_numpy(embedding),
            "has_identity": embedding is not None,
            "angle": regions.angle[pick],
            "subject": name,
        }


def condition_maps(cond) -> tuple[torch.Tensor, torch.Tensor]:
    """`FaceConditions` of N crops -> (normal [N, 3, s, s] as (n + 1) / 2, white off the body;
    extra [N, 8, s, s]: mask, then the landmark heatmaps), the face stage's condition layout."""
    mask = cond.mask[:, None]
    normal = ((cond.normals.permute(0, 3, 1, 2) + 1) / 2) * mask + (1 - mask)
    return normal, torch.cat([mask, cond.landmarks], dim=1)


def _shrink(x: torch.Tensor, side: int) -> torch.Tensor:
    """[N, K, s, s] -> the same size after an anti-aliased shrink to side x side (detail lost)."""
    s = x.shape[-1]
    small = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)


def degrade_faces(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """[N, 4, s, s] RGBA face crops -> what a generated body view shows there: each shrunk to a
    random 10-40 px (log-uniform), back up, shifted by up to 4% and scaled by up to 5% (the
    fit's box is not the true one), RGB gains of +-6%; on white outside the shifted alpha."""
    n, s = x.shape[0], x.shape[-1]
    out = []
    for i in range(n):
        side = int(round(np.exp(rng.uniform(np.log(10), np.log(40)))))
        y = _shrink(x[i:i + 1], side)
        scale = float(rng.uniform(0.95, 1.05))
        shift = rng.uniform(-0.08, 0.08, size=2)  # normalised coordinates: 0.08 = 4% of the side
        theta = torch.tensor([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]], dtype=torch.float32)[None]
        grid = F.affine_grid(theta, (1, 4, s, s), align_corners=False)
        fill = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 4, 1, 1)
        y = F.grid_sample(y - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
        gains = torch.from_numpy(rng.uniform(0.94, 1.06, size=3).astype(np.float32)).view(1, 3, 1, 1)
        alpha = y[:, 3:]
        y = torch.cat([((y[:, :3] - (1 - alpha)) * gains + (1 - alpha)), alpha], dim=1)
        out.append(y.clamp(0, 1))
    return torch.cat(out)


__all__ = ["FaceCropViews", "condition_maps", "degrade_faces"]
