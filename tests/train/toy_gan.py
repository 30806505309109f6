"""A second training recipe, for the tests of the generic loop: a toy GAN on 2-D points.
G (noise -> point) and D (point -> logit), an EMA of G, one AdamW and one LR scheduler each;
every step is a D step then a G step (non-saturating logistic loss).

    python tests/train/toy_gan.py OUT STEPS CHECKPOINT_EVERY [--resume] [--kill-at STEP]

--kill-at: the process SIGKILLs itself when that step starts (after every checkpoint before it).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from humanmv.io.grid import save_grid
from humanmv.models.weights import save_module_weights
from humanmv.train.config import Options, TrainConfig
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer,
                                  register_recipe)

CENTRE = (2.0, -1.0)  # the data: a Gaussian blob of std 0.25 around it


@dataclass
class ToyGANOptions(Options):
    noise_dim: int = 4
    hidden: int = 32
    points: int = 64                    # dataset size
    kill_at: Optional[int] = None       # test hook: SIGKILL when this step starts

    RUN_FIELDS = frozenset({"kill_at"})

    def checks(self) -> list[tuple[bool, str]]:
        return [(self.noise_dim >= 1 and self.hidden >= 1, "noise_dim and hidden must be at least 1")]


class Points(torch.utils.data.Dataset):
    """`points` fixed samples (2,) of the data distribution."""

    def __init__(self, points: int) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.tensor(CENTRE) + 0.25 * torch.randn(points, 2, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.x[index]


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_out))


@register_recipe
class ToyGAN(Recipe):
    name = "toy-gan"
    options_class = ToyGANOptions

    def build(self, cfg: TrainConfig, options: ToyGANOptions) -> TrainObjects:
        g, d = _mlp(options.noise_dim, options.hidden, 2), _mlp(2, options.hidden, 1)
        opt_g = make_optimizer(g.parameters(), cfg, weight_decay=0.0)
        opt_d = make_optimizer(d.parameters(), cfg, weight_decay=0.0)
        return TrainObjects(modules={"G": g, "D": d}, optimizers={"G": opt_g, "D": opt_d},
                            schedulers={"G": make_lr_scheduler(opt_g, cfg), "D": make_lr_scheduler(opt_d, cfg)},
                            emas={"G": EMA(g, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: ToyGANOptions, objects: TrainObjects) -> tuple[Any, Any]:
        noise = torch.randn(256, options.noise_dim, generator=torch.Generator().manual_seed(cfg.seed))
        return Points(options.points), noise

    def training_step(self, ctx: StepContext, batch: torch.Tensor) -> dict[str, Any]:
        if ctx.step == ctx.options.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        acc, g, d = ctx.accelerator, ctx.modules["G"], ctx.modules["D"]
        opt_g, opt_d = ctx.optimizers["G"], ctx.optimizers["D"]
        n, dim = batch.shape[0], ctx.options.noise_dim
        fake = g(torch.randn(n, dim, generator=ctx.generator("noise_d")).to(batch)).detach()
        loss_d = F.softplus(-d(batch)).mean() + F.softplus(d(fake)).mean()
        acc.backward(loss_d)
        acc.clip_grad_norm_(d.parameters(), ctx.cfg.max_grad_norm)
        opt_d.step()
        ctx.schedulers["D"].step()
        opt_d.zero_grad(set_to_none=True)
        loss_g = F.softplus(-d(g(torch.randn(n, dim, generator=ctx.generator("noise_g")).to(batch)))).mean()
        acc.backward(loss_g)
        acc.clip_grad_norm_(g.parameters(), ctx.cfg.max_grad_norm)
        opt_g.step()
        ctx.schedulers["G"].step()
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)  # the G step's gradients on D are not D's to use
        return {"loss_d": loss_d, "loss_g": loss_g}

    def write_samples(self, path: Path, objects: TrainObjects, item: torch.Tensor, cfg: TrainConfig) -> None:
        """A 32 x 32 histogram of the EMA G's points over [-1, 4] x [-3, 2]."""
        with torch.no_grad():
            pts = objects.emas["G"].model(item)
        ij = ((pts - torch.tensor([-1.0, -3.0])) / 5 * 32).long().clamp(0, 31)
        image = torch.zeros(32, 32)
        image.index_put_((31 - ij[:, 1], ij[:, 0]), torch.ones(len(ij)), accumulate=True)
        save_grid(path, (1 - image / image.max())[None, :, :, None], cols=1, pad=0)

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: ToyGANOptions) -> None:
        save_module_weights(objects.emas["G"].model, folder / "G.safetensors")

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"modules": sorted(objects.modules)}


def tiny_config(out, steps: int, checkpoint_every: int, **kw) -> tuple[TrainConfig, ToyGANOptions]:
    """Fast settings: batch 16, lr 5e-3, constant LR after 2 warm-up steps."""
    base = dict(out=str(out), steps=steps, batch_size=16, lr=5e-3, lr_schedule="constant", warmup_steps=2,
                adam_beta1=0.5, ema_decay=0.9, checkpoint_every=checkpoint_every, sample_every=0, log_every=1,
                quiet=True)
    own = {k: kw.pop(k) for k in list(kw) if k in ToyGANOptions.__dataclass_fields__}
    return TrainConfig(**{**base, **kw}), ToyGANOptions(**own)


def run(out, steps: int, checkpoint_every: int, resume: bool = False, **kw) -> dict:
    from humanmv.train.loop import run_training

    return run_training("toy-gan", *tiny_config(out, steps, checkpoint_every, **kw), resume=resume)


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    kill_at = int(args[args.index("--kill-at") + 1]) if "--kill-at" in args else None
    run(args[0], int(args[1]), int(args[2]), resume="--resume" in args, kill_at=kill_at)
