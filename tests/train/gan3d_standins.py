"""The gan3d recipe at test size (tiny config, 2 views a step), and a script entry that trains
it (for the SIGKILL test).

    python tests/train/gan3d_standins.py DATA OUT STEPS CHECKPOINT_EVERY [--resume] [--kill-at STEP]

--kill-at: the process SIGKILLs itself when that step starts (after every checkpoint before it).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import torch

from humanmv.train.recipes.gan3d import GAN3DOptions, GAN3DRecipe


class KillableGAN3D(GAN3DRecipe):
    """The gan3d recipe; `kill_at`: SIGKILL this process when that step starts."""

    def __init__(self, kill_at: Optional[int] = None, body=None, renderer=None) -> None:
        super().__init__(body, renderer)
        self.kill_at = kill_at

    def training_step(self, ctx, batch):
        if ctx.step == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().training_step(ctx, batch)


def tiny_config(data, out, steps: int, checkpoint_every: int = 1000, **kw):
    """(TrainConfig, GAN3DOptions) of a tiny run; `kw` may name options of either. R1 every
    2nd step, so a few steps include it."""
    from humanmv.train.config import TrainConfig

    base = dict(data=str(data), out=str(out), steps=steps, batch_size=2, lr=2e-3, lr_schedule="constant",
                warmup_steps=0, ema_decay=0.9, checkpoint_every=checkpoint_every, sample_every=0, log_every=1,
                quiet=True)
    own = dict(config="tiny", r1_every=2, calibration_views=6)
    for k, v in kw.items():
        (own if k in GAN3DOptions.__dataclass_fields__ else base)[k] = v
    return TrainConfig(**base), GAN3DOptions(**own)


def run(data, out, steps: int, checkpoint_every: int = 1000, resume: bool = False, kill_at: Optional[int] = None,
        body=None, renderer=None, **kw) -> dict:
    from humanmv.train.loop import run_training

    return run_training(KillableGAN3D(kill_at, body, renderer), *tiny_config(data, out, steps, checkpoint_every, **kw),
                        resume=resume)


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    kill_at = int(args[args.index("--kill-at") + 1]) if "--kill-at" in args else None
    run(args[0], args[1], int(args[2]), int(args[3]), resume="--resume" in args, kill_at=kill_at)
