"""`TrainConfig`: every option of `humanmv train mvdiff`, with working defaults.

Options split in two kinds. The *math* options (model config, batch, views, learning rate,
seed, ...) define the run: resuming from a checkpoint keeps the checkpoint's values and refuses
different ones. The *run* options (steps, output cadence, workers, console) may change between
a run and its resumption.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from humanmv.errors import ConfigError

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "cosine")

# Options that may differ between a run and its resumption.
RUN_FIELDS = frozenset({"data", "out", "steps", "checkpoint_every", "sample_every", "log_every",
                        "keep_checkpoints", "num_workers", "quiet", "mixed_precision",
                        "gradient_checkpointing"})


@dataclass
class TrainConfig:
    """Training of the mvdiff generator. Sizes: a step sees `batch_size` subjects (per
    process) x `views` target views of `size` x `size` pixels."""

    data: str = ""                      # dataset folder written by `humanmv synth` (+ prior/)
    out: str = ""                       # run folder: checkpoint-<step>/, samples/, log.jsonl, final/
    config: str = "small"               # model config name (humanmv.models.get_config)
    steps: int = 10_000
    batch_size: int = 1                 # subjects per step and process
    views: int = 6                      # target views per subject
    size: Optional[int] = None          # pixels; None = the model config's sample_size
    lr: float = 2e-4                    # AdamW peak learning rate (small model from scratch)
    lr_schedule: str = "cosine"         # after the linear warm-up: cosine to 0 or constant
    warmup_steps: int = 500
    weight_decay: float = 1e-2
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    ema_decay: float = 0.999            # with the (1 + t) / (10 + t) warm-up of diffusers' EMAModel
    reference_dropout: float = 0.1      # share of subjects trained without the reference (CFG)
    mask_weight: float = 1.0            # pixels in (target | coarse) mask weigh 1 + mask_weight
    mixed_precision: str = "auto"       # auto: bf16 (or fp16) on a GPU, "no" on CPU
    gradient_checkpointing: bool = False
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    sample_every: int = 1000            # 0 = never
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0                # DataLoader worker processes
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept in the state

    def validate(self) -> "TrainConfig":
        """Raise a one-line ConfigError on a value no run can use; returns self."""
        checks = [
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.views >= 1, f"--views must be at least 1, got {self.views}"),
            (self.size is None or 8 <= self.size <= 4096, f"--size must be within 8..4096, got {self.size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be within [0, 1), got {self.ema_decay}"),
            (0 <= self.reference_dropout <= 1, f"reference_dropout must be within [0, 1], got {self.reference_dropout}"),
            (self.mask_weight >= 0, f"mask_weight must be >= 0, got {self.mask_weight}"),
            (self.mixed_precision in MIXED_PRECISION, f"--mixed-precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}"),
            (self.checkpoint_every >= 1, f"--checkpoint-every must be at least 1, got {self.checkpoint_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}"),
            (self.sample_every >= 0, f"--sample-every must be >= 0, got {self.sample_every}"),
            (self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}"),
            (self.num_workers >= 0, f"--num-workers must be >= 0, got {self.num_workers}"),
            (self.max_grad_norm > 0, f"max_grad_norm must be positive, got {self.max_grad_norm}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def for_resume(self, saved: "TrainConfig", given: set[str]) -> "TrainConfig":
        """The config of a resumed run: `saved`'s math options, this config's run options.
        `given` names the options the user set explicitly; a given math option that differs
        from the checkpoint's is a ConfigError."""
        for name in sorted(given - RUN_FIELDS):
            if getattr(self, name) != getattr(saved, name):
                raise ConfigError(
                    f"the checkpoint in {self.out} was trained with {name}={getattr(saved, name)!r}, "
                    f"not {getattr(self, name)!r}; resume without that option or choose a new --out")
        run = {name: getattr(self, name) for name in RUN_FIELDS}
        return dataclasses.replace(saved, **run)


def resolve_mixed_precision(choice: str, cuda: bool, bf16_ok: bool) -> str:
    """"auto" -> "bf16" on a GPU that supports it, "fp16" on other GPUs, "no" on CPU.
    A half precision asked for without a GPU is a ConfigError."""
    if choice == "auto":
        return ("bf16" if bf16_ok else "fp16") if cuda else "no"
    if choice != "no" and not cuda:
        raise ConfigError(f"--mixed-precision {choice} needs a GPU; use auto or no on CPU")
    return choice
