"""Small stand-ins for the mvdiff training tests: an in-memory dataset with MVDiffPairs'
items, the mvdiff recipe on it, and a script entry that trains it (for the SIGKILL test).

    python tests/train/train_standins.py OUT STEPS CHECKPOINT_EVERY [--resume] [--kill-at STEP]

--kill-at: the process SIGKILLs itself when that step starts (after every checkpoint before it).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import torch

from humanmv.train.recipes.mvdiff import MVDiffRecipe, model_config_for

SIZE, VIEWS, SUBJECTS = 32, 2, 3


class MemoryPairs(torch.utils.data.Dataset):
    """Items like MVDiffPairs': target/coarse (N,4,s,s), normal (N,3,s,s), camera (N,12),
    reference (4,s,s), reference_conditions (7,s,s), subject. A blob per subject; the coarse
    view is the target blurred and shifted; views change with the epoch."""

    def __init__(self, subjects: int = SUBJECTS, views: int = VIEWS, size: int = SIZE, seed: int = 0):
        self.subjects, self.views, self.size, self.seed, self.epoch = subjects, views, size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.subjects

    def _view(self, index: int, angle: float) -> torch.Tensor:
        s = self.size
        g = torch.Generator().manual_seed(1000 + index)
        colour = torch.rand(3, generator=g)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, s), torch.linspace(-1, 1, s), indexing="ij")
        cx = 0.3 * torch.sin(torch.tensor(angle))
        mask = (((xx - cx) / 0.35) ** 2 + (yy / 0.7) ** 2 < 1).float()
        rgb = colour.view(3, 1, 1) * (0.6 + 0.4 * (xx + 1) / 2) * mask + (1 - mask)
        return torch.cat([rgb, mask[None]])

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch * 31 + index)
        angles = torch.rand(self.views, generator=g) * 6.28
        target = torch.stack([self._view(index, float(a)) for a in angles])
        coarse = torch.nn.functional.avg_pool2d(target, 3, 1, 1)
        normal = torch.full((self.views, 3, self.size, self.size), 0.5) * coarse[:, 3:4] + (1 - coarse[:, 3:4])
        camera = torch.cat([torch.eye(3).flatten().expand(self.views, 9), torch.stack(
            [torch.sin(angles), torch.zeros_like(angles), torch.cos(angles)], 1)], 1)
        reference = self._view(index, 0.0)
        return {"target": target, "coarse": coarse, "normal": normal, "camera": camera,
                "reference": reference, "reference_conditions": torch.cat([reference, torch.full((3, self.size, self.size), 0.5)]),
                "subject": f"{index:06d}"}


class MemoryMVDiff(MVDiffRecipe):
    """The mvdiff recipe on MemoryPairs: no dataset folder, no prior fitting; the sample item
    is the first training item. `kill_at`: SIGKILL this process when that step starts."""

    def __init__(self, kill_at: Optional[int] = None) -> None:
        self.kill_at = kill_at

    def check(self, cfg, options) -> None:
        model_config_for(options)

    def prepare_data(self, cfg, options, progress=None) -> None:
        pass

    def datasets(self, cfg, options, objects):
        ds = MemoryPairs()
        return ds, ds[0]

    def training_step(self, ctx, batch):
        if ctx.step == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().training_step(ctx, batch)


def tiny_config(out, steps: int, checkpoint_every: int = 1000, **kw):
    """(TrainConfig, MVDiffOptions) of a tiny run; `kw` may name options of either."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.mvdiff import MVDiffOptions

    base = dict(data="memory", out=str(out), steps=steps, warmup_steps=2, checkpoint_every=checkpoint_every,
                sample_every=0, log_every=1, quiet=True, lr=1e-3)
    own = dict(config="tiny", views=VIEWS, size=SIZE)
    for k, v in kw.items():
        (own if k in MVDiffOptions.__dataclass_fields__ else base)[k] = v
    return TrainConfig(**base), MVDiffOptions(**own)


def run(out, steps: int, checkpoint_every: int, resume: bool = False, kill_at: Optional[int] = None, **kw):
    from humanmv.train.loop import run_training

    cfg, options = tiny_config(out, steps, checkpoint_every, **kw)
    return run_training(MemoryMVDiff(kill_at), cfg, options, resume=resume)


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    kill_at = int(args[args.index("--kill-at") + 1]) if "--kill-at" in args else None
    run(args[0], int(args[1]), int(args[2]), resume="--resume" in args, kill_at=kill_at)


def run_killed_at(script_args: list[str], meanwhile, timeout: float = 240.0) -> None:
    """Start `python SCRIPT_ARGS` (a training run that SIGKILLs itself when its --kill-at step
    starts), run `meanwhile()` (the uninterrupted reference run) in this process, and check the
    child really died by SIGKILL."""
    import os
    import signal
    import subprocess
    from pathlib import Path

    import pytest

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root / "src"), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen([sys.executable, *script_args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    meanwhile()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the run to be killed did not reach its kill step within {timeout:.0f} s")
    assert proc.returncode == -signal.SIGKILL, f"training died before its kill step: {err.decode()[-2000:]}"
