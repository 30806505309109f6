"""Training pairs for the mvdiff generator: the prior fitted to each synthetic subject's input
view, against the subject's ground-truth views.

The model must learn to correct real fitting errors, so its conditions (coarse RGBA and normal
maps at the target cameras) come from the prior pipeline run on the input view alone, never
from the ground truth: `pipelines.prior_views.prepare_prior_views` stores them under
ROOT/prior/ once. The tensors follow the contract of `models.inputs`, shared with inference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from humanmv.data.colour_augment import ColourJitter, apply_colour_jitter, sample_colour_jitter
from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError
from humanmv.models.inputs import reference_inputs, resize_views, view_tensors


class MVDiffPairs(Dataset):
    """Item = one subject: `views` random rig views (seeded by (seed, epoch, index)).

    Returns target (N, 4, s, s) ground-truth RGBA on white; coarse (N, 4, s, s) and normal
    (N, 3, s, s) the prior's render at the same cameras; camera (N, 12) features of each target
    relative to the input camera (`models.camera.camera_features`); reference (4, s, s) the
    input view and reference_conditions (7, s, s) the prior's render at the input camera, both
    cropped square around the person; subject (str). All in [0, 1], s = `size`.

    With probability `colour_augment` an item's colours (target, coarse, reference and the
    reference's conditions alike) go through one random `data.colour_augment.ColourJitter`,
    so the model learns to carry the input's colours over rather than the training set's.

    `skirt_share` (None = every subject) caps the share of subjects whose outfit has a skirt or
    a dress (`meta.json` "outfit"): the engine draws one for half its people, far more than
    photos show, and a model trained on that draws skirts round trousers and tight clothes.
    The subjects kept are the first ones in name order (the same set on every machine).
    """

    def __init__(self, root: str | Path, views: int = 6, size: int = 64, seed: int = 0,
                 split: str | None = "train", colour_augment: float = 0.0,
                 skirt_share: float | None = None) -> None:
        assert 0.0 <= colour_augment <= 1.0, colour_augment
        assert skirt_share is None or 0.0 <= skirt_share < 1.0, skirt_share
        self.root, self.views, self.size, self.seed, self.epoch = Path(root), views, size, seed, 0
        self.colour_augment = colour_augment
        if not (self.root / "prior").is_dir():
            raise ConfigError(f"{root}: no prior/ views; prepare them with "
                              "humanmv.pipelines.prior_views.prepare_prior_views (the train command does)")
        self.subjects = [n for n in finished_subjects(self.root, split)
                         if (self.root / "prior" / n / "meta.json").is_file()]
        if skirt_share is not None:
            self.subjects = cap_skirt_share(self.root, self.subjects, skirt_share)
        if not self.subjects:
            raise ConfigError(f"{root}: no subjects with prior views in split {split!r}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.subjects)

    def __getitem__(self, index: int) -> dict:
        from humanmv.models.camera import camera_features

        name = self.subjects[index]
        gt_dir, prior_dir = self.root / "subjects" / name, self.root / "prior" / name
        names = [v["name"] for v in json.loads((gt_dir / "cameras.json").read_text())]
        rig = [i for i, n in enumerate(names) if n != "input"]
        inp = names.index("input")
        rng = np.random.default_rng((self.seed, self.epoch, index))
        picks = sorted(rng.choice(rig, size=min(self.views, len(rig)), replace=False).tolist())
        gt = read_subject(gt_dir, layers=("rgb", "mask"), views=picks + [inp])
        pr = read_subject(prior_dir, layers=("rgb", "mask", "normal"), views=picks + [inp])
        reference, reference_conditions = reference_inputs(gt.rgb[-1], gt.mask[-1], pr.rgb[-1], pr.mask[-1],
                                                           pr.normal[-1], self.size)
        target = resize_views(view_tensors(gt.rgb[:-1], gt.mask[:-1]), self.size)
        conditions = resize_views(view_tensors(pr.rgb[:-1], pr.mask[:-1], pr.normal[:-1]), self.size)
        if self.colour_augment > 0 and rng.random() < self.colour_augment:
            target, conditions, reference, reference_conditions = _jittered(
                sample_colour_jitter(rng), target, conditions, reference, reference_conditions)
        w2c = pr.cameras.world_to_cam
        return {
            "target": target,
            "coarse": conditions[:, :4], "normal": conditions[:, 4:],
            "camera": camera_features(w2c[:-1], w2c[-1]),
            "reference": reference, "reference_conditions": reference_conditions,
            "subject": name,
        }


SKIRT_KINDS = ("skirt", "dress")


def wears_skirt(root: Path, name: str) -> bool:
    """Whether subject `name`'s outfit (meta.json) has a skirt or a dress shell."""
    meta = json.loads((root / "subjects" / name / "meta.json").read_text())
    return any(g.get("kind") in SKIRT_KINDS for g in meta.get("outfit") or ())


def cap_skirt_share(root: Path, names: list[str], share: float) -> list[str]:
    """`names` with skirt/dress wearers beyond `share` of the result dropped (the last ones
    in name order go first); everyone else kept."""
    names = sorted(names)
    skirts = [n for n in names if wears_skirt(root, n)]
    others = len(names) - len(skirts)
    keep = set(skirts[:int(share * others / (1.0 - share) + 1e-9)])
    return [n for n in names if n in keep or n not in skirts]


def _jittered(jitter: ColourJitter, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor [..., C >= 4, s, s] with RGBA first, its RGB moved by `jitter` (the rest,
    alpha and normals, unchanged)."""
    out = []
    for t in tensors:
        rgb = apply_colour_jitter(t[..., :3, :, :], t[..., 3:4, :, :], jitter)
        out.append(torch.cat([rgb, t[..., 3:, :, :]], dim=-3))
    return tuple(out)
