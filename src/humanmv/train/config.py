"""Options of a training run: `TrainConfig` (the loop's, shared by every recipe) and the
`Options` base that it and each recipe's own options dataclass build on.

Options split in two kinds. The *math* options (batch, learning rate, seed, a recipe's model
config, ...) define the run: resuming from a checkpoint keeps the checkpoint's values and
refuses different ones given explicitly. The *run* options (`RUN_FIELDS`: steps, output
cadence, workers, console, ...) may change between a run and its resumption.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from humanmv.errors import ConfigError

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "cosine")

O = TypeVar("O", bound="Options")


@dataclass
class Options:
    """Base of the option dataclasses (itself the options of a recipe that has none): dict
    round trip, validation and the resume rule. Subclasses are dataclasses; `RUN_FIELDS`
    names the fields that may change on resume."""

    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def checks(self) -> list[tuple[bool, str]]:
        """(ok, one-line message) pairs; `validate` raises the first failing one."""
        return []

    def validate(self: O) -> O:
        """Raise a one-line ConfigError on a value no run can use; returns self."""
        for ok, message in self.checks():
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[O], d: dict[str, Any]) -> O:
        """Unknown keys (an older or newer version's) are ignored; missing ones default."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def for_resume(self: O, saved: O, given: set[str], out: str) -> O:
        """The options of a resumed run: `saved`'s math options, these run options. `given`
        names the options the user set explicitly; a given math option that differs from the
        checkpoint's (in run folder `out`) is a ConfigError."""
        names = {f.name for f in dataclasses.fields(self)}
        for name in sorted((given & names) - self.RUN_FIELDS):
            if getattr(self, name) != getattr(saved, name):
                raise ConfigError(
                    f"the checkpoint in {out} was trained with "
                    f"{name}={getattr(saved, name)!r}, not {getattr(self, name)!r}; resume without "
                    "that option or choose a new --out")
        return dataclasses.replace(saved, **{name: getattr(self, name) for name in self.RUN_FIELDS & names})


@dataclass
class TrainConfig(Options):
    """The loop's options, the same for every recipe. A step sees `batch_size` dataset items
    per process; the recipe decides what an item is."""

    RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "data", "out", "steps", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints",
        "num_workers", "quiet", "mixed_precision", "gradient_checkpointing"})

    data: str = ""                      # dataset folder (the recipe reads it)
    out: str = ""                       # run folder: checkpoint-<step>/, samples/, log.jsonl, final/
    steps: int = 10_000
    batch_size: int = 1                 # dataset items per step and process
    lr: float = 2e-4                    # peak learning rate of the recipe's optimizers
    lr_schedule: str = "cosine"         # after the linear warm-up: cosine to 0 or constant
    warmup_steps: int = 500
    weight_decay: float = 1e-2
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    ema_decay: float = 0.999            # with the (1 + t) / (10 + t) warm-up of diffusers' EMAModel
    mixed_precision: str = "auto"       # auto: bf16 (or fp16) on a GPU, "no" on CPU
    gradient_checkpointing: bool = False
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    sample_every: int = 1000            # 0 = never
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0                # DataLoader worker processes
    quiet: bool = False

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1,
             f"adam betas must be within [0, 1), got {self.adam_beta1}, {self.adam_beta2}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be within [0, 1), got {self.ema_decay}"),
            (self.mixed_precision in MIXED_PRECISION, f"--mixed-precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"),
            (self.checkpoint_every >= 1, f"--checkpoint-every must be at least 1, got {self.checkpoint_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}"),
            (self.sample_every >= 0, f"--sample-every must be >= 0, got {self.sample_every}"),
            (self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}"),
            (self.num_workers >= 0, f"--num-workers must be >= 0, got {self.num_workers}"),
            (self.max_grad_norm > 0, f"max_grad_norm must be positive, got {self.max_grad_norm}"),
        ]


def resolve_mixed_precision(choice: str, cuda: bool, bf16_ok: bool) -> str:
    """"auto" -> "bf16" on a GPU that supports it, "fp16" on other GPUs, "no" on CPU.
    A half precision asked for without a GPU is a ConfigError."""
    if choice == "auto":
        return ("bf16" if bf16_ok else "fp16") if cuda else "no"
    if choice != "no" and not cuda:
        raise ConfigError(f"--mixed-precision {choice} needs a GPU; use auto or no on CPU")
    return choice
