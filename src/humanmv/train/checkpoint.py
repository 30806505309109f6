"""Training checkpoints: every named object of a run (`TrainObjects`), enough to continue it
bit for bit.

    OUT/checkpoint-<step>/
        modules/<name>/model.safetensors   each module's weights (+ config.json when it has a config)
        emas/<name>/model.safetensors      the moving average of module <name> (same format)
        optimizers/<name>.pt               optimizer state     (torch.save of tensors and numbers only;
        schedulers/<name>.pt               LR scheduler state   read back with torch.load(weights_only=True))
        rng.pt                             torch RNG states (informational: every step reseeds)
        trainer_state.json                 {"step", "recipe", "config", "options", ...}

A module folder with config.json is a `save_pretrained` folder (MultiViewUNet.from_pretrained
reads it). Weights go through `models.weights` (strict: keys and shapes checked). A checkpoint
is written into a hidden temporary folder in OUT and renamed into place when complete, so a
process killed mid-save leaves the previous checkpoints intact and no half checkpoint: any
`checkpoint-<step>` folder is complete. Only the newest `keep` are kept. Every problem reading
one is a one-line CheckpointError naming the file.
"""

from __future__ import annotations

import dataclasses
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
from humanmv.models.weights import WEIGHTS_NAME, load_module_weights, save_module_weights
from humanmv.train.recipe import TrainObjects

_NAME = re.compile(r"^checkpoint-(\d+)$")
_TMP_PREFIX = ".checkpoint-"
CONFIG_NAME = "config.json"
STATE_NAME = "trainer_state.json"


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


def remove_stale_temporaries(out: str | os.PathLike[str]) -> None:
    """Delete half-written checkpoint folders a killed run left behind."""
    out = Path(out)
    if out.is_dir():
        for p in out.iterdir():
            if p.name.startswith(_TMP_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


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


def _stateful(objects: TrainObjects) -> list[tuple[str, dict[str, Any]]]:
    """(folder, named objects) of the state saved with torch.save."""
    return [("optimizers", objects.optimizers), ("schedulers", objects.schedulers)]


def _module_config(module: nn.Module) -> Optional[dict[str, Any]]:
    config = getattr(module, "config", None)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return None


def _save_module(module: nn.Module, folder: Path) -> None:
    folder.mkdir(parents=True)
    config = _module_config(module)
    if config is not None:  # the same file save_pretrained writes
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_module_weights(module, folder / WEIGHTS_NAME)


def save_checkpoint(out: str | os.PathLike[str], step: int, objects: TrainObjects,
                    state: dict[str, Any], keep: int = 3) -> Path:
    """Write `out/checkpoint-<step>/` atomically and delete all but the newest `keep`
    checkpoints. `objects` holds plain (not DDP-wrapped) modules; `state` (JSON-able: recipe
    name, options, ...) goes into trainer_state.json with "step" added. Returns the folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"checkpoint-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{step}.tmp-", dir=out))
    try:
        for name, module in objects.modules.items():
            _save_module(module, tmp / "modules" / name)
        for name, ema in objects.emas.items():
            _save_module(ema.model, tmp / "emas" / name)
        for kind, items in _stateful(objects):
            (tmp / kind).mkdir()
            for name, obj in items.items():
                torch.save(obj.state_dict(), tmp / kind / f"{name}.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        (tmp / STATE_NAME).write_text(json.dumps({**state, "step": step}, indent=1))
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


def _older(folder: Path) -> str:
    return f"delete {folder} to resume from an older checkpoint"


def read_trainer_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """trainer_state.json of a checkpoint; CheckpointError when missing or unreadable."""
    folder = Path(folder)
    path = folder / STATE_NAME
    try:
        state = json.loads(path.read_text())
        int(state["step"])
        str(state["recipe"])
        dict(state["config"])
        dict(state["options"])
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete, {_older(folder)}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is unreadable ({type(err).__name__}); {_older(folder)}") from None
    return state


def _torch_load(path: Path, folder: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; {_older(folder)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise CheckpointError(f"{path} is corrupt ({reason}); {_older(folder)}") from None


def _check_names(folder: Path, kind: str, names: set[str], suffix: str = "") -> None:
    """The checkpoint holds exactly the `kind` entries the recipe builds (a stray one means
    it was written by another recipe or another version of its options)."""
    where = folder / kind
    found = {p.name[: len(p.name) - len(suffix)] for p in where.iterdir()} if where.is_dir() else set()
    for name in sorted(names - found):
        raise CheckpointError(f"{where / (name + suffix)} is missing; {_older(folder)}")
    for name in sorted(found - names):
        raise CheckpointError(f"{where / (name + suffix)} belongs to no {kind[:-1]} of this run; resume with "
                              "the checkpoint's options or choose a new --out")


def load_checkpoint(folder: str | os.PathLike[str], objects: TrainObjects) -> dict[str, Any]:
    """Restore a `save_checkpoint` folder into `objects` (in place, plain modules and
    optimizers); returns the trainer state (with "step"). Every problem is a one-line
    CheckpointError naming the file."""
    folder = Path(folder)
    state = read_trainer_state(folder)
    _check_names(folder, "modules", set(objects.modules))
    _check_names(folder, "emas", set(objects.emas))
    _check_names(folder, "optimizers", set(objects.optimizers), ".pt")
    _check_names(folder, "schedulers", set(objects.schedulers), ".pt")
    for name, module in objects.modules.items():
        load_module_weights(module, folder / "modules" / name / WEIGHTS_NAME)
    for name, ema in objects.emas.items():
        load_module_weights(ema.model, folder / "emas" / name / WEIGHTS_NAME)
    for kind, items in _stateful(objects):
        for name, obj in items.items():
            path = folder / kind / f"{name}.pt"
            loaded = _torch_load(path, folder)
            try:
                obj.load_state_dict(loaded)
            except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as err:
                raise CheckpointError(f"{path} does not fit this run's {kind[:-1]} {name!r} ({type(err).__name__}); "
                                      "resume with the checkpoint's options or choose a new --out") from None
    rng = _torch_load(folder / "rng.pt", folder)
    if isinstance(rng, dict) and isinstance(rng.get("torch"), torch.Tensor):
        torch.set_rng_state(rng["torch"])
    return state
