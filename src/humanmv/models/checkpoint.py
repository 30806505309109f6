"""MultiViewUNet checkpoint files: our folder's config.json and a diffusers UNet folder's.

Our folder: config.json (MVDiffConfig.to_dict) + model.safetensors (models/weights.py).
A diffusers folder: config.json + diffusion_pytorch_model.safetensors (e.g. Stable Diffusion
2.1's unet/), whose weights `copy_diffusers_weights` copies into our UNet. Every problem is a
one-line CheckpointError naming the file: the user gave it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from humanmv.errors import CheckpointError, ConfigError
from humanmv.models.config import MVDiffConfig
from humanmv.models.weights import read_safetensors

CONFIG_NAME = "config.json"
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")
# Structural fields of a diffusers UNet config that must agree with ours.
_DIFFUSERS_FIELDS = ("block_out_channels", "layers_per_block", "cross_attention_dim", "down_block_types",
                     "up_block_types", "use_linear_projection", "norm_num_groups")


def read_json(path: Path, missing: str) -> dict:
    """A checkpoint's JSON file; CheckpointError naming the file when it is missing (`missing`
    says what to do) or not valid JSON."""
    if not path.is_file():
        raise CheckpointError(f"{path}: {missing}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); restore or re-save the checkpoint") from exc


def load_config(path: Path) -> MVDiffConfig:
    """Read an MVDiffConfig JSON file; CheckpointError naming the file on any problem. Fields
    added to MVDiffConfig after the file was written take their defaults."""
    raw = read_json(path, "config file missing; the checkpoint is incomplete, save it again")
    try:
        return MVDiffConfig.from_dict(raw)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def check_diffusers_config(path: Path, config: MVDiffConfig) -> None:
    """Compare a diffusers UNet config.json with `config`'s plain UNet shape."""
    raw = read_json(path, "diffusers UNet config missing")
    want = config.unet_kwargs(plain=True)
    levels = len(config.block_out_channels)
    for key in ("in_channels", "out_channels") + _DIFFUSERS_FIELDS:
        if key in raw:
            got = tuple(raw[key]) if isinstance(raw[key], list) else raw[key]
            ref = tuple(want[key]) if isinstance(want[key], (list, tuple)) else want[key]
            if got != ref:
                raise CheckpointError(f"{path}: {key} is {raw[key]} but config {config.name!r} "
                                      f"needs {list(ref) if isinstance(ref, tuple) else ref}")
    heads = raw.get("num_attention_heads") or raw.get("attention_head_dim")
    if heads is not None:
        heads = tuple(heads) if isinstance(heads, list) else (heads,) * levels
        if heads != tuple(want["attention_head_dim"]):
            raise CheckpointError(f"{path}: attention heads {list(heads)} differ from config "
                                  f"{config.name!r}'s {list(want['attention_head_dim'])}")


def diffusers_weights(folder: Path, config: MVDiffConfig) -> Path:
    """The weights file of a diffusers UNet folder whose config.json fits `config`'s plain UNet."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: diffusers UNet folder not found (expected config.json + "
                              f"{DIFFUSERS_WEIGHTS[0]})")
    check_diffusers_config(folder / CONFIG_NAME, config)
    weights = next((folder / n for n in DIFFUSERS_WEIGHTS if (folder / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{folder / DIFFUSERS_WEIGHTS[0]}: weights file missing (sharded or .bin "
                              "checkpoints are not supported; re-save it with safe_serialization)")
    return weights


def copy_diffusers_weights(unet: nn.Module, weights: Path, config: MVDiffConfig) -> None:
    """Copy a diffusers UNet's weights file into `unet` (our UNet of `config`), in place.

    The file's conv_in has `image_channels` input channels; ours has image + condition
    channels: the first ones are copied and the extra ones zero-initialised (Zero123 /
    Wonder3D), so the input conditions start with no effect. The camera projection (class
    embedding) starts with a zero output layer for the same reason.
    """
    unet_state = unet.state_dict()
    expected = {k: tuple(v.shape) for k, v in unet_state.items() if not k.startswith("class_embedding.")}
    conv = "conv_in.weight"
    expected[conv] = (expected[conv][0], config.image_channels, *expected[conv][2:])
    loaded = read_safetensors(weights, expected)
    with torch.no_grad():
        for k, v in loaded.items():
            if k == conv:
                unet_state[k].zero_()
                unet_state[k][:, : config.image_channels].copy_(v)
            else:
                unet_state[k].copy_(v)
        unet.class_embedding.linear_2.weight.zero_()
        unet.class_embedding.linear_2.bias.zero_()
