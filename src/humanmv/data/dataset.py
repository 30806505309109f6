"""torch Datasets over a `humanmv synth` dataset (or any folder of subject folders with a
manifest): an input view plus target views, or continuous view sequences. Subjects are read
from disk per item; nothing is held in memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError
from humanmv.views import Views, channels_first


def _subjects(root: Path, split: str | None) -> list[Path]:
    return [root / "subjects" / n for n in finished_subjects(root, split)]


def _images(views: Views, size: int | None) -> dict[str, torch.Tensor]:
    """Layers as (N, K, H, W) network tensors (K = 1 for mask and depth), resized to
    size x size when asked."""
    out = {}
    for name in ("rgb", "normal", "mask", "depth"):
        value = getattr(views, name)
        if value is None:
            continue
        t = channels_first(value) if value.dim() == 4 else value[:, None]
        if size is not None and t.shape[-1] != size:
            mode = "nearest" if name in ("mask", "depth") else "bilinear"
            t = F.interpolate(t, size=(size, size), mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
        out[name] = t
    return out


class MultiViewDataset(Dataset):
    """Item = one subject: its "input" photo view and `n_targets` rig views (a subject without
    an "input" view, e.g. an imported scan, uses its first view, the front, as the input).

    Returns a dict of tensors: input_rgb (3, S, S), input_mask (1, S, S), input_K (3, 3),
    input_w2c (4, 4); target_rgb (N, 3, S, S), target_normal (N, 3, S, S), target_mask
    (N, 1, S, S), target_K (N, 3, 3), target_w2c (N, 4, 4), target_az (N,) degrees.
    Targets are evenly spaced over the rig starting at a random view when `random_start`
    (seeded per item and epoch-free: item i always picks the same views with seed `seed`).
    """

    def __init__(self, root: str | Path, split: str | None = "train", n_targets: int = 6,
                 size: int | None = None, random_start: bool = True, seed: int = 0) -> None:
        self.root, self.n_targets, self.size = Path(root), n_targets, size
        self.random_start, self.seed = random_start, seed
        self.subjects = _subjects(self.root, split)
        if not self.subjects:
            raise ConfigError(f"{root}: no finished subjects in split {split!r}")

    def __len__(self) -> int:
        return len(self.subjects)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        folder = self.subjects[index]
        names = [v["name"] for v in json.loads((folder / "cameras.json").read_text())]
        rig = [i for i, n in enumerate(names) if n != "input"]
        inp = names.index("input") if "input" in names else rig[0]
        n = min(self.n_targets, len(rig))
        start = int(np.random.default_rng((self.seed, index)).integers(len(rig))) if self.random_start else 0
        picks = [rig[(start + round(k * len(rig) / n)) % len(rig)] for k in range(n)]
        views = read_subject(folder, layers=("rgb", "normal", "mask"), views=[inp] + picks)
        img = _images(views, self.size)
        K, w2c = views.cameras.K, views.cameras.world_to_cam
        if self.size is not None and views.cameras.width != self.size:
            K = views.cameras.resized(self.size, self.size).K
        return {
            "input_rgb": img["rgb"][0], "input_mask": img["mask"][0], "input_K": K[0], "input_w2c": w2c[0],
            "target_rgb": img["rgb"][1:], "target_normal": img["normal"][1:], "target_mask": img["mask"][1:],
            "target_K": K[1:], "target_w2c": w2c[1:], "target_az": views.cameras.az[1:],
        }


class ViewSequenceDataset(Dataset):
    """Item = `length` consecutive rig views of one subject (seed 003's continuous sequences
    for view-consistency training): rgb (L, 3, S, S), mask (L, 1, S, S), K (L, 3, 3),
    w2c (L, 4, 4). Every start position of every subject is an item."""

    def __init__(self, root: str | Path, split: str | None = "train", length: int = 8,
                 size: int | None = None) -> None:
        self.size, self.length = size, length
        self.items = []
        for folder in _subjects(Path(root), split):
            names = [v["name"] for v in json.loads((folder / "cameras.json").read_text())]
            rig = [i for i, n in enumerate(names) if n != "input"]
            self.items += [(folder, rig, s) for s in range(len(rig))]
        if not self.items:
            raise ConfigError(f"{root}: no finished subjects in split {split!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        folder, rig, start = self.items[index]
        picks = [rig[(start + k) % len(rig)] for k in range(min(self.length, len(rig)))]
        views = read_subject(folder, layers=("rgb", "mask"), views=picks)
        img = _images(views, self.size)
        cams = views.cameras if self.size is None else views.cameras.resized(self.size, self.size)
        return {"rgb": img["rgb"], "mask": img["mask"], "K": cams.K, "w2c": cams.world_to_cam}
