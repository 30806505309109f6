"""Training: a generic accelerate loop (`run_training`) driven by one recipe per model family
(`Recipe`, registered by name), with EMA, deterministic batches and checkpoints.

    from humanmv.train import TrainConfig, run_training
    from humanmv.train.recipes.mvdiff import MVDiffOptions
    run_training("mvdiff", TrainConfig(data="ds", out="runs/a", steps=20000), MVDiffOptions(config="small"))

Command line: `humanmv train mvdiff --data DIR --out DIR ...`, or for several processes
`accelerate launch -m humanmv.train mvdiff --data DIR --out DIR ...`.
Names are imported lazily (importing humanmv.train does not import torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "TrainConfig": "humanmv.train.config", "Options": "humanmv.train.config",
    "run_training": "humanmv.train.loop",
    "Recipe": "humanmv.train.recipe", "TrainObjects": "humanmv.train.recipe",
    "StepContext": "humanmv.train.recipe", "register_recipe": "humanmv.train.recipe",
    "get_recipe": "humanmv.train.recipe", "recipe_names": "humanmv.train.recipe",
    "make_optimizer": "humanmv.train.recipe", "make_lr_scheduler": "humanmv.train.recipe",
    "EMA": "humanmv.train.ema", "ema_decay_at": "humanmv.train.ema",
    "latest_checkpoint": "humanmv.train.checkpoint", "load_checkpoint": "humanmv.train.checkpoint",
    "save_checkpoint": "humanmv.train.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'humanmv.train' has no attribute {name!r}")


__all__ = sorted(_NAMES)
