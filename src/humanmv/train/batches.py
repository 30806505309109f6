"""Deterministic training batches: which subjects, which views and which noise a step sees
depend only on (seed, step, process index), never on how the run got to that step, so a run
resumed from a checkpoint repeats exactly the steps an uninterrupted run would take.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch.utils.data import Dataset, Sampler

from humanmv.errors import ConfigError


def step_seed(seed: int, step: int, rank: int, what: str) -> int:
    """A 63-bit seed from (run seed, step, process index, purpose)."""
    digest = hashlib.sha256(f"{seed}:{step}:{rank}:{what}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def step_generator(seed: int, step: int, rank: int, what: str) -> torch.Generator:
    """A CPU torch.Generator seeded by `step_seed`."""
    g = torch.Generator()
    g.manual_seed(step_seed(seed, step, rank, what))
    return g


def step_indices(n: int, batch_size: int, seed: int, step: int, rank: int) -> list[int]:
    """The `batch_size` item indices of a step: distinct while batch_size <= n."""
    g = step_generator(seed, step, rank, "data")
    if batch_size <= n:
        return torch.randperm(n, generator=g)[:batch_size].tolist()
    return torch.randint(n, (batch_size,), generator=g).tolist()


class StepBatches(Sampler):
    """Batch sampler for steps first+1 .. last: yields [(index, step), ...] per step; the step
    doubles as the dataset's epoch, so the views picked for a subject change every step."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, first: int, last: int) -> None:
        self.n, self.batch_size, self.seed, self.rank = n, batch_size, seed, rank
        self.first, self.last = first, last

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.first + 1, self.last + 1):
            yield [(i, step) for i in step_indices(self.n, self.batch_size, self.seed, step, self.rank)]

    def __len__(self) -> int:
        return max(0, self.last - self.first)


class StepItems(Dataset):
    """`ds[(index, epoch)]` = the wrapped dataset's item `index` at `epoch` (set_epoch, when
    the dataset has one). Works in DataLoader workers: each holds its own copy."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, epoch = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def check_data(root: str | Path) -> list[str]:
    """The finished subjects of a dataset folder; ConfigError (one line, with the command that
    writes one) when the folder, its manifest or its subjects are missing."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise ConfigError(f"--data {root} does not exist; write a dataset with "
                          f"`humanmv synth --preset body-train --subjects N --out {root}`")
    from humanmv.data.format import finished_subjects

    names = finished_subjects(root)
    if not names:
        raise ConfigError(f"{root}: no finished subjects; write some with "
                          f"`humanmv synth --preset body-train --subjects N --out {root}`")
    return names


def ensure_prior_views(root: str | Path, progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Check the dataset folder and fit the prior to any subject that has no prior views yet
    (ROOT/prior/, `humanmv.pipelines.prior_views.prepare_prior_views`, resumable). Returns the
    number of subjects prepared now."""
    root = Path(root)
    names = check_data(root)
    failed_path = root / "prior" / "failed.json"
    failed = json.loads(failed_path.read_text()) if failed_path.is_file() else {}
    todo = [n for n in names if not (root / "prior" / n / "meta.json").is_file() and n not in failed]
    if not todo:
        return 0
    from humanmv.pipelines.prior_views import prepare_prior_views

    return prepare_prior_views(root, progress=progress)
