"""Reading metric-network weights from a user-given file, and checking them against a module.

Files are read without running code: `.safetensors` with the project's one safetensors reader
(`models.weights.read_safetensors`), anything else with
`torch.load(path, weights_only=True, map_location="cpu")` (a plain state dict, possibly wrapped
as {"state_dict": {...}} or {"model": {...}}). The format is sniffed from the content, not the
name. TorchScript archives (e.g. OpenAI's `ViT-B-32.pt`) are refused with a hint to convert.

Every problem is a `CheckpointError` whose one-line message names the file and, for a key
problem, the first missing or mismatched key.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from humanmv.errors import CheckpointError

LOG = logging.getLogger("humanmv")

StateDict = dict[str, torch.Tensor]


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n < path.stat().st_size and head[8:9] == b"{"


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in z.namelist())


def read_state_dict(path: str | PathLike[str], what: str = "weights") -> StateDict:
    """All tensors in the file at `path`, as {key: tensor} on the CPU (dtypes as stored).

    what: a short description for messages ("LPIPS trunk", "Inception-v3", ...).
    Non-tensor entries (an epoch counter, ...) are dropped; a common "module." prefix is removed.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"{what} file not found: {p}")
    if _is_safetensors(p):
        # Imported here: humanmv.models pulls in diffusers, which only safetensors files need.
        from humanmv.models.weights import read_safetensors

        try:
            raw: object = read_safetensors(p, dtype=None)
        except CheckpointError as err:
            raise CheckpointError(f"cannot read {what} file: {err}") from err
    else:
        if _is_torchscript(p):
            raise CheckpointError(
                f"{what} file {p} is a TorchScript archive, which is not read (it can run code): "
                "save its state_dict() as .safetensors first"
            )
        try:
            raw = torch.load(p, weights_only=True, map_location="cpu")
        except Exception as err:  # noqa: BLE001 - pickles with objects, truncated files, ...
            raise CheckpointError(
                f"cannot read {what} file {p} as a safetensors file or a plain torch state dict: "
                f"{_one_line(err)}"
            ) from err
    state = _unwrap(raw)
    if not state:
        raise CheckpointError(f"{what} file {p} holds no tensors")
    return state


def _unwrap(raw: object) -> StateDict:
    if isinstance(raw, Mapping):
        for wrapper in ("state_dict", "model", "params_ema"):
            inner = raw.get(wrapper)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                raw = inner
                break
        state = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
        if state and all(k.startswith("module.") for k in state):
            state = {k[len("module.") :]: v for k, v in state.items()}
        return state
    return {}


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text[:300] + "...") if len(text) > 300 else text or type(err).__name__


def load_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: Path | str | Callable[[str], Path | str],
    what: str,
) -> list[str]:
    """Copy `state` into `module` after checking every key the module needs.

    module: the network; its `state_dict()` keys and shapes are what is required (buffers that
            are not persistent are not required). Integer buffers such as BatchNorm's
            `num_batches_tracked` are not required either.
    state:  {key: tensor} already renamed to the module's key names; floats are cast to the
            module's dtype.
    source: the file the keys came from, or a function key -> file (for models read from two
            files), used in messages.
    A module built on the meta device (`with torch.device("meta"): ...`, which skips random
    initialisation) gets the loaded tensors assigned instead of copied into it; it must have no
    non-persistent buffers.
    Returns the keys of `state` that the module does not use (the caller may log them).
    Raises CheckpointError naming the file and the first missing or wrong-shaped key.
    """
    where = source if callable(source) else (lambda _key, s=source: s)
    expected = module.state_dict()
    on_meta = any(t.is_meta for t in expected.values())
    to_load: StateDict = {}
    for key, ref in expected.items():
        if key not in state:
            if not ref.is_floating_point():  # e.g. num_batches_tracked: keep / zero
                to_load[key] = torch.zeros(ref.shape, dtype=ref.dtype) if ref.is_meta else ref
                continue
            raise CheckpointError(f"{what} file {where(key)} is missing the key {key!r} (expected shape {_shape(ref)})")
        t = state[key]
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{what} file {where(key)}: key {key!r} has shape {_shape(t)}, expected {_shape(ref)}"
            )
        to_load[key] = t.to(device="cpu", dtype=ref.dtype).contiguous()
    module.load_state_dict(to_load, strict=True, assign=on_meta)
    if on_meta and any(t.is_meta for t in list(module.parameters()) + list(module.buffers())):
        raise RuntimeError(f"{what}: a meta-device module has tensors that no file sets")
    unused = sorted(k for k in state if k not in expected)
    if unused:
        LOG.debug("%s: %d unused keys (first: %s)", what, len(unused), unused[0])
    return unused


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode, float32, no gradients: how every metric network is used."""
    module.float().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
