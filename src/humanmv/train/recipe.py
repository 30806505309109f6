"""Training recipes: what one model family brings to the generic loop (`train.loop`).

A recipe builds the run's named modules, optimizers, LR schedulers and EMAs (`TrainObjects`),
its datasets, one training step, sample pictures and the final export. The loop owns
everything else: accelerate, the run folder, seeding, batches, logging, checkpoints, resume.

    @register_recipe
    class MyRecipe(Recipe):
        name = "mine"
        options_class = MyOptions              # an Options dataclass of the recipe's own flags
        def build(self, cfg, options): ...      # -> TrainObjects
        def datasets(self, cfg, options, objects): ...   # -> (training Dataset, sample item)
        def training_step(self, ctx, batch): ...         # -> {"loss": tensor, ...}
        def write_samples(self, path, objects, item, cfg): ...
        def export(self, folder, objects, cfg, options): ...

    run_training("mine", TrainConfig(out="runs/a"), MyOptions())    # or `get_recipe("mine")`

The built-in recipes ("mvdiff", "pose-lifter", "gan3d", "face", "head360") register when first asked for by name.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from humanmv.errors import ConfigError
from humanmv.train.batches import step_generator
from humanmv.train.config import Options, TrainConfig
from humanmv.train.ema import EMA

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a name becomes a file or folder name


@dataclass
class TrainObjects:
    """The named state of a run, all of it checkpointed: `modules` (each trained or frozen
    nn.Module), `optimizers`, `schedulers` (LR schedulers, stepped by the recipe) and `emas`
    (an `EMA` per module name it averages; the loop updates each after every step)."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    emas: dict[str, EMA] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.modules:
            raise ValueError("TrainObjects needs at least one module")
        for kind in ("modules", "optimizers", "schedulers", "emas"):
            for name in getattr(self, kind):
                if not _NAME.match(name):
                    raise ValueError(f"TrainObjects.{kind}: {name!r} is not usable as a file name")
        orphans = sorted(set(self.emas) - set(self.modules))
        if orphans:
            raise ValueError(f"TrainObjects.emas {orphans} average no module of that name")

    def trained(self) -> dict[str, nn.Module]:
        """The modules with at least one parameter that needs a gradient."""
        return {k: m for k, m in self.modules.items() if any(p.requires_grad for p in m.parameters())}


@dataclass
class StepContext:
    """What a training step gets besides its batch. `modules` and `optimizers` are the
    accelerator-prepared ones (a module is DDP-wrapped under several processes: call it for
    the forward, never read weights from it); `generator(what)` is a CPU generator seeded by
    (seed, step, process, what), so a resumed run draws exactly the same numbers."""

    step: int
    rank: int
    cfg: TrainConfig
    options: Any
    accelerator: Any
    modules: dict[str, nn.Module]
    optimizers: dict[str, Any]
    schedulers: dict[str, Any]

    def generator(self, what: str) -> torch.Generator:
        return step_generator(self.cfg.seed, self.step, self.rank, what)


class Recipe:
    """Base class of the recipes; see the module docstring. `name` is the recipe's command
    name and is stored in each checkpoint; `options_class` is an `Options` dataclass whose
    field names differ from TrainConfig's."""

    name: str = ""
    options_class: type[Options] = Options

    def check(self, cfg: TrainConfig, options: Any) -> None:
        """Fail fast (one-line ConfigError) on user input, before any slow work; runs in every
        process before any of them waits for another."""

    def prepare_data(self, cfg: TrainConfig, options: Any,
                     progress: Optional[Callable[[int, int], None]] = None) -> None:
        """One-off data preparation, main process only, before `datasets` (which every
        process calls afterwards)."""

    def build(self, cfg: TrainConfig, options: Any) -> TrainObjects:
        """Fresh modules, optimizers, LR schedulers and EMAs. torch is seeded with cfg.seed
        just before, so the initial weights are the seed's."""
        raise NotImplementedError

    def datasets(self, cfg: TrainConfig, options: Any, objects: TrainObjects) -> tuple[Any, Any]:
        """(training map-style Dataset, the fixed item `write_samples` gets)."""
        raise NotImplementedError

    def training_step(self, ctx: StepContext, batch: Any) -> dict[str, Any]:
        """One optimisation step on `batch` (collated, on the accelerator's device): the
        forward, `ctx.accelerator.backward`, clipping, optimizer and LR scheduler steps and
        zeroing the gradients, in the recipe's order. Returns scalars to log (0-d tensors or
        numbers; the same keys on every process), e.g. {"loss": loss}."""
        raise NotImplementedError

    def write_samples(self, path: Path, objects: TrainObjects, item: Any, cfg: TrainConfig) -> None:
        """Write a progress picture to `path` (a .png), main process only."""
        raise NotImplementedError

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: Any) -> None:
        """Write the final model into the empty `folder` (the loop renames it to OUT/final/
        and adds training.json)."""
        raise NotImplementedError

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        """JSON-able facts kept in trainer_state.json and training.json (e.g. model configs)."""
        return {}


_RECIPES: dict[str, type[Recipe]] = {}
_BUILTIN = {"mvdiff": "humanmv.train.recipes.mvdiff", "pose-lifter": "humanmv.train.recipes.pose_lifter",
            "gan3d": "humanmv.train.recipes.gan3d", "face": "humanmv.train.recipes.face",
            "head360": "humanmv.train.recipes.head360"}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Make `cls` available as `get_recipe(cls.name)`; usable as a class decorator.
    Registering another class under a taken name is a ValueError."""
    if not cls.name or not _NAME.match(cls.name):
        raise ValueError(f"{cls.__name__}.name {cls.name!r} is not a usable recipe name")
    clash = {f.name for f in dataclasses.fields(cls.options_class)} & {f.name for f in dataclasses.fields(TrainConfig)}
    if clash:
        raise ValueError(f"{cls.__name__}.options_class repeats TrainConfig's fields {sorted(clash)}")
    known = _RECIPES.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"a recipe named {cls.name!r} is already registered ({known.__module__}.{known.__name__})")
    _RECIPES[cls.name] = cls
    return cls


def recipe_names() -> list[str]:
    """Every recipe name `get_recipe` knows, built-in or registered."""
    return sorted(set(_RECIPES) | set(_BUILTIN))


def get_recipe(name: str) -> Recipe:
    """A new instance of the recipe registered as `name`; ConfigError for an unknown name."""
    if name not in _RECIPES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # registers itself
    if name not in _RECIPES:
        raise ConfigError(f"unknown training recipe {name!r}; choose one of {', '.join(recipe_names())}")
    return _RECIPES[name]()


def optimize(ctx: StepContext, name: str, loss: torch.Tensor) -> torch.Tensor:
    """One optimisation step of module `name` on `loss`: backward, gradient clipping at
    cfg.max_grad_norm, the optimizer's and LR scheduler's step, gradients cleared. Returns the
    gradient norm before clipping."""
    module, optimizer = ctx.modules[name], ctx.optimizers[name]
    ctx.accelerator.backward(loss)
    grad_norm = ctx.accelerator.clip_grad_norm_(module.parameters(), ctx.cfg.max_grad_norm)
    optimizer.step()
    ctx.schedulers[name].step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


def make_optimizer(params: Any, cfg: TrainConfig, **overrides: Any) -> torch.optim.AdamW:
    """AdamW with the loop options' lr, betas and weight decay (`overrides` replace any)."""
    kwargs = dict(lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, **{**kwargs, **overrides})


def make_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    """Linear warm-up over cfg.warmup_steps, then cosine to 0 at cfg.steps or constant."""
    from diffusers.optimization import get_scheduler

    return get_scheduler("cosine" if cfg.lr_schedule == "cosine" else "constant_with_warmup",
                         optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps)
