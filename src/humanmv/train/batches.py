"""Deterministic training batches: which items a step sees (and, through `step_generator`,
which noise a recipe draws) depend only on (seed, step, process index), never on how the run
got to that step, so a run resumed from a checkpoint repeats exactly the steps an
uninterrupted run would take.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import torch
from torch.utils.data import Dataset, Sampler


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
    doubles as the dataset's epoch, so what an item draws (e.g. a subject's views) changes
    every step."""

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

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]
