"""Model weights on disk: the one strict safetensors reader and writer of humanmv.

    save_module_weights(module, folder / "model.safetensors")
    load_module_weights(module, folder / "model.safetensors")       # in place, strict
    tensors = read_safetensors(path, expected={"w": (3, 4)})        # exactly these keys + shapes

Every problem with a file is a one-line `CheckpointError` naming the file (a user gave it);
keys and shapes are checked from the header before any tensor is read, so a mismatch costs
no loading. Files are never pickles.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from humanmv.errors import CheckpointError

WEIGHTS_NAME = "model.safetensors"


def shape_text(shape) -> str:
    """(3, 4) -> "(3, 4)"; accepts a tensor or a sequence of sizes."""
    sizes = shape.shape if isinstance(shape, torch.Tensor) else shape
    return "(" + ", ".join(str(int(s)) for s in sizes) + ")"


def read_safetensors(path: str | os.PathLike[str], expected: dict[str, tuple] | None = None,
                     dtype: torch.dtype | None = torch.float32) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on the CPU.

    expected: key -> shape. When given, the file must hold exactly these keys with these
    shapes (CheckpointError naming the first missing, unexpected or mis-shaped tensor).
    dtype: cast every floating-point tensor to it (None: as stored).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file missing; the checkpoint is incomplete, save it again")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            if expected is not None:
                missing = sorted(set(expected) - keys)
                unexpected = sorted(keys - set(expected))
                if missing:
                    raise CheckpointError(f"{path}: missing tensor {missing[0]!r} ({len(missing)} missing); "
                                          "the checkpoint was saved by a different model or config")
                if unexpected:
                    raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} "
                                          "unexpected); the checkpoint was saved by a different model or config")
                for k in sorted(expected):
                    shape = tuple(f.get_slice(k).get_shape())
                    if shape != tuple(expected[k]):
                        raise CheckpointError(f"{path}: tensor {k!r} has shape {shape_text(shape)} but the model "
                                              f"expects {shape_text(expected[k])}; check the config")
            tensors = {k: f.get_tensor(k) for k in sorted(keys)}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error types on a corrupt header
        raise CheckpointError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0][:160]}); "
                              "re-save the checkpoint") from None
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    return tensors


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> Path:
    """Write `tensors` (moved to the CPU, made contiguous) to `path`. Callers that need
    atomicity write into a temporary folder that they rename (`io.atomic.atomic_output_dir`)."""
    path = Path(path)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})
    return path


def save_module_weights(module: nn.Module, path: str | os.PathLike[str]) -> Path:
    """`module.state_dict()` as a safetensors file."""
    return save_safetensors(module.state_dict(), path)


def load_module_weights(module: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a safetensors file into `module` in place, strictly: exactly the module's keys with
    its shapes, cast to each parameter's dtype and moved to its device. Returns the module."""
    own = module.state_dict()
    tensors = read_safetensors(path, {k: tuple(v.shape) for k, v in own.items()}, dtype=None)
    state = {k: tensors[k].to(dtype=own[k].dtype, device=own[k].device) for k in own}
    module.load_state_dict(state, strict=True)
    return module
