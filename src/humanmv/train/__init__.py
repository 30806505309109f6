"""Training loops (accelerate), EMA and checkpoints.

    from humanmv.train import TrainConfig, train_mvdiff
    train_mvdiff(TrainConfig(data="ds", out="runs/a", config="small", steps=20000))

Command line: `humanmv train mvdiff --data DIR --out DIR ...`, or for several processes
`accelerate launch -m humanmv.train mvdiff --data DIR --out DIR ...`.
Names are imported lazily (importing humanmv.train does not import torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "TrainConfig": "humanmv.train.config",
    "EMA": "humanmv.train.ema", "ema_decay_at": "humanmv.train.ema",
    "latest_checkpoint": "humanmv.train.checkpoint", "load_checkpoint": "humanmv.train.checkpoint",
    "save_checkpoint": "humanmv.train.checkpoint",
    "train_mvdiff": "humanmv.train.mvdiff", "diffusion_loss": "humanmv.train.mvdiff",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'humanmv.train' has no attribute {name!r}")


__all__ = sorted(_NAMES)
