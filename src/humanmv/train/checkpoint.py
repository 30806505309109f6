"""Training checkpoints: everything needed to continue a run bit for bit.

    OUT/checkpoint-<step>/
        model/               the trained model   (save_pretrained: config.json + model.safetensors)
        ema/                 its moving average  (same format; a pipeline can load either)
        optimizer.pt         AdamW state          (torch.save of tensors and numbers only;
        scheduler.pt         LR scheduler state    read back with torch.load(weights_only=True))
        rng.pt               torch RNG states (informational: every step reseeds from (seed, step))
        trainer_state.json   {"step", "config" (TrainConfig), "model_config", ...}

A checkpoint is written into a hidden temporary folder in OUT and renamed into place when
complete, so a process killed mid-save leaves the previous checkpoints intact and no half
checkpoint: any `checkpoint-<step>` folder is complete. Only the newest `keep` are kept.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from humanmv.errors import CheckpointError

_NAME = re.compile(r"^checkpoint-(\d+)$")
_TMP_PREFIX = ".checkpoint-"


def checkpoint_steps(out: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint in `out`, oldest first."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = []
    for p in out.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(out: str | os.PathLike[str]) -> Optional[Path]:
    """The newest `out/checkpoint-<step>` folder, or None when there is none."""
    found = checkpoint_steps(out)
    return found[-1][1] if found else None


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unwrap_optimizer(optimizer: Any) -> Any:
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer


def save_checkpoint(out: str | os.PathLike[str], step: int, model: nn.Module, ema_model: nn.Module,
                    optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int = 3) -> Path:
    """Write `out/checkpoint-<step>/` atomically and delete all but the newest `keep`
    checkpoints. `model` / `ema_model` need `save_pretrained(folder)`; `state` (JSON-able: the
    TrainConfig dict, model config, loss...) goes into trainer_state.json with "step" added.
    Returns the checkpoint folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"checkpoint-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{step}.tmp-", dir=out))
    try:
        model.save_pretrained(tmp / "model")
        ema_model.save_pretrained(tmp / "ema")
        torch.save(_unwrap_optimizer(optimizer).state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({**state, "step": step}, indent=1))
        for p in tmp.rglob("*"):
            _fsync(p)
        _fsync(tmp)
        if final.exists():  # the same step saved again (a resumed run): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for _, old in checkpoint_steps(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_temporaries(out: str | os.PathLike[str]) -> None:
    """Delete half-written checkpoint folders a killed run left behind."""
    out = Path(out)
    if out.is_dir():
        for p in out.iterdir():
            if p.name.startswith(_TMP_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def read_trainer_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """trainer_state.json of a checkpoint; CheckpointError when missing or unreadable."""
    path = Path(folder) / "trainer_state.json"
    try:
        state = json.loads(path.read_text())
        int(state["step"])
        dict(state["config"])
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, delete {folder} to resume from an older one") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is unreadable ({type(err).__name__}); delete {folder} to resume from an older one") from None
    return state


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; delete {path.parent} to resume from an older checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise CheckpointError(f"{path} is corrupt ({reason}); delete {path.parent} to resume from an older checkpoint") from None


def _load_weights(model: nn.Module, folder: Path) -> None:
    """Load `folder` (save_pretrained format) into `model` in place; CheckpointError naming the
    folder on any mismatch."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is missing; delete {folder.parent} to resume from an older checkpoint")
    try:
        loaded = type(model).from_pretrained(folder)
    except CheckpointError:
        raise
    except Exception as err:  # safetensors / json errors of a damaged file
        raise CheckpointError(f"{folder} is unreadable ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}); "
                              f"delete {folder.parent} to resume from an older checkpoint") from None
    try:
        model.load_state_dict(loaded.state_dict())
    except RuntimeError:
        raise CheckpointError(f"{folder} holds weights of another model shape; resume with the checkpoint's --config or choose a new --out") from None


def load_checkpoint(folder: str | os.PathLike[str], model: nn.Module, ema_model: nn.Module,
                    optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore a `save_checkpoint` folder into the given objects (in place); returns the
    trainer state (with "step"). Every problem is a one-line CheckpointError naming the file."""
    folder = Path(folder)
    state = read_trainer_state(folder)
    _load_weights(model, folder / "model")
    _load_weights(ema_model, folder / "ema")
    opt_state = _torch_load(folder / "optimizer.pt")
    sched_state = _torch_load(folder / "scheduler.pt")
    try:
        _unwrap_optimizer(optimizer).load_state_dict(opt_state)
        scheduler.load_state_dict(sched_state)
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{folder}/optimizer.pt does not fit this model ({type(err).__name__}); "
                              "resume with the checkpoint's options or choose a new --out") from None
    rng = _torch_load(folder / "rng.pt")
    if isinstance(rng, dict) and isinstance(rng.get("torch"), torch.Tensor):
        torch.set_rng_state(rng["torch"])
    return state
