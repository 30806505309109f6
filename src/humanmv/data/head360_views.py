"""Training items of the head360 generator: synthetic portraits seen all round, with the prior's
head-mode views as conditions (seeds 001 Gen3D-Face and 003 DiffPortrait360).

    ds = Head360Views("data/head-train-haired", stage="main", views=8, size=64)
    item = ds[0]          # target (8, 4, 64, 64), coarse, normal, camera, reference (2, 4, 64, 64), ...

The dataset is a `humanmv synth --preset head-train-haired` folder (a ring of 36 views, 10 deg
apart, plus the "input" view) whose input views the prior has fitted in head mode
(`pipelines.prior_views.prepare_prior_views(root, ..., mode="head")`, under ROOT/prior-head/):
the conditions carry real fitting errors, never the ground truth.

Stages (what `train.recipes.head360` trains):
- "back": one target, the ring view opposite the input (the back-view generator); the input
  view is the one reference stream.
- "main" / "consistency": `views` targets; "continuous" sequences are runs of neighbouring ring
  views (seed 003 §3.4), "random" ones any distinct ring views (the ablation). Two reference
  streams (dual appearance): the input view and the back view. The back stream is the true back
  view shrunk to the model's size and lightly re-coloured, standing in for the back generator's
  output; with probability `back_from_prior` it is the prior's render there instead, so the
  model copes with a poor back.

Tensors (all [0, 1], s = `size`): target (N, 4, s, s) RGBA on white; coarse (N, 4, s, s) and
normal (N, 3, s, s) the prior at the same cameras; camera (N, 12) `camera_features` relative to
the input camera; reference (R, 4, s, s) and reference_conditions (R, 7, s, s) cropped around
the person (`models.inputs.reference_inputs`); reference_camera (R, 12); azimuth (N,) degrees of
each target from the input around the head. R = 1 for "back", 2 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from humanmv.cameras import azimuths_about
from humanmv.data.colour_augment import apply_colour_jitter, sample_colour_jitter
from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError
from humanmv.models.inputs import framing_box, reference_inputs, resize_views, view_tensors

STAGES = ("back", "main", "consistency")
SEQUENCES = ("continuous", "random")


class Head360Views(Dataset):
    """Item = one subject for `stage` (see the module docstring), seeded by (seed, epoch, index)."""

    def __init__(self, root: str | Path, stage: str = "main", views: int = 8, size: int = 64, seed: int = 0,
                 split: str | None = "train", sequence: str = "continuous", colour_augment: float = 0.5,
                 back_from_prior: float = 0.15) -> None:
        assert stage in STAGES and sequence in SEQUENCES, (stage, sequence)
        assert 0 <= colour_augment <= 1 and 0 <= back_from_prior <= 1, (colour_augment, back_from_prior)
        self.root, self.stage, self.size, self.seed, self.epoch = Path(root), stage, size, seed, 0
        self.views = 1 if stage == "back" else views
        self.sequence, self.colour_augment, self.back_from_prior = sequence, colour_augment, back_from_prior
        self.prior = self.root / "prior-head"
        if not self.prior.is_dir():
            raise ConfigError(f"{root}: no prior-head/ views; prepare them with `humanmv train head360` (it fits "
                              "the prior to every input view in head mode first)")
        self.subjects = [n for n in finished_subjects(self.root, split) if (self.prior / n / "meta.json").is_file()]
        if not self.subjects:
            raise ConfigError(f"{root}: no subjects with head-mode prior views in split {split!r}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.subjects)

    def _ring(self, name: str) -> tuple[list[int], int]:
        names = [v["name"] for v in json.loads((self.root / "subjects" / name / "cameras.json").read_text())]
        ring = [i for i, n in enumerate(names) if n != "input"]
        if len(ring) < self.views + 1:
            raise ConfigError(f"{self.root}/subjects/{name}: {len(ring)} ring views, need more than {self.views}; "
                              "use --preset head-train-haired (36 views)")
        return ring, names.index("input")

    def __getitem__(self, index: int) -> dict:
        from humanmv.models.camera import camera_features, identity_camera

        name = self.subjects[index]
        gt_dir, prior_dir = self.root / "subjects" / name, self.prior / name
        ring, inp = self._ring(name)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        # Order the ring by azimuth from the input: a continuous sequence is a run of neighbours.
        all_cams = read_subject(prior_dir, layers=()).cameras
        w2c = all_cams.world_to_cam
        centre = all_cams[ring].centers.mean(0)  # the ring's evenly spread cameras: its middle
        az = azimuths_about(w2c[ring], w2c[inp], centre)
        order = [ring[i] for i in torch.argsort(az).tolist()]
        back, front = ring[int(torch.argmax(az.abs()))], ring[int(torch.argmin(az.abs()))]
        picks = self._picks(order, back, rng)
        gt = read_subject(gt_dir, layers=("rgb", "mask"), views=picks + [back, inp])
        pr = read_subject(prior_dir, layers=("rgb", "mask", "normal"), views=picks + [back, inp])
        n = len(picks)
        target = resize_views(view_tensors(gt.rgb[:n], gt.mask[:n]), self.size)
        conditions = resize_views(view_tensors(pr.rgb[:n], pr.mask[:n], pr.normal[:n]), self.size)
        cams = pr.cameras.world_to_cam
        # The input view at the targets' framing (the ring view nearest it), as at inference.
        box = framing_box(centre, w2c[front], all_cams.K[front], int(all_cams.sizes[front, 1]), cams[-1],
                          pr.cameras.K[-1])
        photo, photo_cond = reference_inputs(gt.rgb[-1], gt.mask[-1], pr.rgb[-1], pr.mask[-1], pr.normal[-1],
                                             self.size, box)
        item_az = azimuths_about(cams[:n], cams[-1], centre)
        refs, ref_cond, ref_cam = [photo], [photo_cond], [identity_camera(1)[0]]
        jitter = sample_colour_jitter(rng) if rng.random() < self.colour_augment else None
        if self.stage != "back":
            if rng.random() < self.back_from_prior:  # the prior's back: a poor back reference
                back_rgb, back_mask = pr.rgb[n], pr.mask[n]
            else:
                back_rgb, back_mask = gt.rgb[n], gt.mask[n]
            whole = (0.0, 0.0, float(back_rgb.shape[0]))  # a ring view: already at the targets' framing
            b, b_cond = reference_inputs(back_rgb, back_mask, pr.rgb[n], pr.mask[n], pr.normal[n], self.size, whole)
            # The back generator's own colour error: a mild independent re-colouring.
            b = torch.cat([apply_colour_jitter(b[:3], b[3:4], sample_colour_jitter(rng, 0.15)), b[3:]])
            refs.append(b)
            ref_cond.append(b_cond)
            ref_cam.append(camera_features(cams[n:n + 1], cams[-1])[0])
        reference, reference_conditions = torch.stack(refs), torch.stack(ref_cond)
        if jitter is not None:  # one transform for the whole subject: follow the input's colours
            target, conditions, reference, reference_conditions = (
                torch.cat([apply_colour_jitter(t[:, :3], t[:, 3:4], jitter), t[:, 3:]], dim=1)
                for t in (target, conditions, reference, reference_conditions))
        return {
            "target": target, "coarse": conditions[:, :4], "normal": conditions[:, 4:],
            "camera": camera_features(cams[:n], cams[-1]),
            "reference": reference, "reference_conditions": reference_conditions,
            "reference_camera": torch.stack(ref_cam), "azimuth": item_az.float(), "subject": name,
        }

    def _picks(self, order: list[int], back: int, rng: np.random.Generator) -> list[int]:
        """The target views: the back view ("back"), a run of neighbours in azimuth order
        (cyclic, "continuous") or distinct random ring views ("random")."""
        if self.stage == "back":
            return [back]
        if self.sequence == "random":
            return sorted(rng.choice(order, size=self.views, replace=False).tolist())
        start = int(rng.integers(len(order)))
        return [order[(start + k) % len(order)] for k in range(self.views)]

