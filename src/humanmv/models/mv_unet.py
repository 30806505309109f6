"""MultiViewUNet: diffusers' UNet2DConditionModel jointly denoising the N views of a subject.

Conditioning (seed 000 / Zero123 / Wonder3D style):
- geometry: the prior's coarse RGBA + normal map of each view are concatenated to the UNet input
  (in_channels = image_channels + condition_channels);
- camera: camera_features (N, 12) enter through the UNet's class embedding
  (class_embed_type="projection"), which is added to the time embedding;
- the input photo: (1) image tokens from a small conv encoder feed the cross-attention (attn2);
  (2) reference attention: the same UNet first runs on the clean reference view (timestep 0,
  its own conditions, identity camera) and stores every attn1 input; the target pass appends
  those tokens to its self-attention keys/values (see models/attention.py);
- cross-view attention: the attn1 layers join the tokens of all N views of a subject.

Tensors: noisy (S, N, image_channels, h, w) in model space ([-1, 1] for pixels), conditions
(S, N, condition_channels, h, w) and reference (S, image_channels, h, w) in [0, 1] for pixel
configs (scaled to [-1, 1] here) or VAE latents for latent configs (used as given).

Checkpoints: folder/config.json (MVDiffConfig.to_dict) + folder/model.safetensors; loading uses
safetensors only and reports every mismatch as a one-line CheckpointError naming the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from humanmv.errors import CheckpointError, ConfigError
from humanmv.io.atomic import atomic_output_dir
from humanmv.models.attention import MultiViewContext, multiview_processors
from humanmv.models.camera import identity_camera
from humanmv.models.config import MVDiffConfig
from humanmv.models.image_encoder import ImageEncoder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")
# Structural fields of a diffusers UNet config that must agree with ours.
_DIFFUSERS_FIELDS = ("block_out_channels", "layers_per_block", "cross_attention_dim", "down_block_types",
                     "up_block_types", "use_linear_projection", "norm_num_groups")


@dataclass
class ReferenceState:
    """What the target pass needs from the reference (the same for every denoising step).

    image_tokens: (S, T, D), zero for dropped subjects. bank: attn1 layer -> (S_kept, L, C).
    ref_index: (S,) long, bank row per subject, -1 where dropped.
    """

    image_tokens: torch.Tensor
    bank: dict[str, torch.Tensor] = field(default_factory=dict)
    ref_index: torch.Tensor | None = None


def _shape(t: torch.Tensor | tuple) -> str:
    return "(" + ", ".join(str(int(s)) for s in (t.shape if isinstance(t, torch.Tensor) else t)) + ")"


class MultiViewUNet(nn.Module):
    """The mvdiff denoiser. `model(noisy, timesteps, conditions, camera, reference,
    reference_conditions, drop_reference=None)` -> (S, N, image_channels, h, w) prediction of
    `config.prediction_type`."""

    def __init__(self, config: MVDiffConfig):
        super().__init__()
        self.config = config
        self.unet = UNet2DConditionModel(**config.unet_kwargs())
        self.image_encoder = ImageEncoder(
            config.image_channels, config.encoder_channels, config.cross_attention_dim, config.num_image_tokens
        )
        self.unet.set_attn_processor(multiview_processors(self.unet.attn_processors, config.cross_view))

    # -- forward -------------------------------------------------------------------------
    def _to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.config.space == "pixel" else x

    def _check(self, name: str, x: torch.Tensor, shape: tuple) -> None:
        """shape: expected sizes, None = any."""
        if x.ndim != len(shape) or any(e is not None and s != e for s, e in zip(x.shape, shape)):
            want = "(" + ", ".join("?" if e is None else str(e) for e in shape) + ")"
            raise ConfigError(f"MultiViewUNet: {name} must have shape {want}, got {_shape(x)}")

    def encode_reference(
        self,
        reference: torch.Tensor,
        reference_conditions: torch.Tensor,
        drop_reference: torch.Tensor | None = None,
    ) -> ReferenceState:
        """Image tokens + the reference pass (write mode). reference (S, C_img, h, w),
        reference_conditions (S, C_cond, h, w), drop_reference (S,) bool or None.
        The pipeline calls this once and reuses the state for every denoising step."""
        c = self.config
        s = reference.shape[0]
        self._check("reference", reference, (s, c.image_channels, None, None))
        self._check("reference_conditions", reference_conditions,
                    (s, c.condition_channels, reference.shape[2], reference.shape[3]))
        drop = torch.zeros(s, dtype=torch.bool) if drop_reference is None else drop_reference.bool().cpu()
        self._check("drop_reference", drop, (s,))
        ref = self._to_model_space(reference)
        keep_f = (~drop).to(ref.dtype).to(ref.device)
        tokens = self.image_encoder(ref) * keep_f[:, None, None]
        state = ReferenceState(tokens)
        if not c.reference_attention or bool(drop.all()):
            return state
        kept = (~drop).nonzero().squeeze(1)
        index = torch.full((s,), -1, dtype=torch.long)
        index[kept] = torch.arange(len(kept))
        state.ref_index = index.to(ref.device)
        kept = kept.to(ref.device)
        sample = torch.cat([ref[kept], self._to_model_space(reference_conditions[kept])], dim=1)
        mv = MultiViewContext(num_views=1, mode="write", bank=state.bank)
        # The output is not needed: the pass exists to fill the bank with attn1 inputs.
        self.unet(
            sample,
            torch.zeros(len(kept), dtype=torch.long, device=ref.device),
            encoder_hidden_states=tokens[kept],
            class_labels=identity_camera(len(kept)).to(ref),
            cross_attention_kwargs={"mv": mv},
        )
        return state

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        conditions: torch.Tensor,
        camera: torch.Tensor,
        reference: torch.Tensor | None = None,
        reference_conditions: torch.Tensor | None = None,
        drop_reference: torch.Tensor | None = None,
        reference_state: ReferenceState | None = None,
    ) -> torch.Tensor:
        """noisy (S, N, C_img, h, w), timesteps (S,) long, conditions (S, N, C_cond, h, w),
        camera (S, N, 12), reference (S, C_img, h, w), reference_conditions (S, C_cond, h, w),
        drop_reference (S,) bool or None. Pass `reference_state` (from encode_reference)
        instead of reference/reference_conditions/drop_reference to reuse a reference pass.
        Returns (S, N, C_img, h, w)."""
        c = self.config
        self._check("noisy", noisy, (None, None, c.image_channels, None, None))
        s, n, _, h, w = noisy.shape
        self._check("timesteps", timesteps, (s,))
        self._check("conditions", conditions, (s, n, c.condition_channels, h, w))
        self._check("camera", camera, (s, n, c.camera_dim))
        if reference_state is None:
            if reference is None or reference_conditions is None:
                raise ConfigError("MultiViewUNet: pass reference and reference_conditions (or reference_state)")
            self._check("reference", reference, (s, c.image_channels, h, w))
            reference_state = self.encode_reference(reference, reference_conditions, drop_reference)
        mode = "read" if reference_state.bank else "none"
        mv = MultiViewContext(num_views=n, mode=mode, bank=reference_state.bank, ref_index=reference_state.ref_index)
        sample = torch.cat([noisy, self._to_model_space(conditions)], dim=2).flatten(0, 1)
        out = self.unet(
            sample,
            timesteps.to(noisy.device).long().repeat_interleave(n),
            encoder_hidden_states=reference_state.image_tokens.repeat_interleave(n, dim=0),
            class_labels=camera.flatten(0, 1).to(noisy),
            cross_attention_kwargs={"mv": mv},
        ).sample
        return out.unflatten(0, (s, n))

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the UNet's activations in backward (less memory, ~30% more time)."""
        self.unet.enable_gradient_checkpointing()

    # -- checkpoints ---------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write folder/config.json + folder/model.safetensors atomically (temp folder + rename);
        an existing checkpoint folder there is replaced."""
        folder = Path(folder)
        with atomic_output_dir(folder, overwrite=True) as tmp:
            (tmp / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
            tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
            save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> "MultiViewUNet":
        """Load a folder written by save_pretrained; CheckpointError (naming the file) on any
        missing file, bad JSON, unknown config field, missing/unexpected tensor or wrong shape."""
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: checkpoint folder not found; pass a folder written by save_pretrained")
        config = load_config(folder / CONFIG_NAME)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise CheckpointError(f"{weights}: weights file missing; the checkpoint is incomplete, save it again")
        model = cls(config)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        state = _read_safetensors(weights, expected)
        model.load_state_dict(state, strict=True)
        return model

    @classmethod
    def from_diffusers_unet(cls, folder: str | os.PathLike[str], config: MVDiffConfig) -> "MultiViewUNet":
        """Build a model whose UNet starts from a diffusers-format UNet folder (config.json +
        diffusion_pytorch_model.safetensors, e.g. Stable Diffusion 2.1's unet/).

        The file's conv_in has `image_channels` input channels; ours has image + condition
        channels: the first ones are copied and the extra ones zero-initialised (Zero123 /
        Wonder3D), so the conditions start with no effect. The camera projection (class
        embedding) starts with a zero output layer for the same reason; the image encoder
        starts fresh.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: diffusers UNet folder not found (expected config.json + "
                                  f"{DIFFUSERS_WEIGHTS[0]})")
        _check_diffusers_config(folder / CONFIG_NAME, config)
        weights = next((folder / n for n in DIFFUSERS_WEIGHTS if (folder / n).is_file()), None)
        if weights is None:
            raise CheckpointError(f"{folder / DIFFUSERS_WEIGHTS[0]}: weights file missing (sharded or .bin "
                                  "checkpoints are not supported; re-save it with safe_serialization)")
        model = cls(config)
        unet_state = model.unet.state_dict()
        expected = {k: tuple(v.shape) for k, v in unet_state.items() if not k.startswith("class_embedding.")}
        conv = "conv_in.weight"
        expected[conv] = (expected[conv][0], config.image_channels, *expected[conv][2:])
        loaded = _read_safetensors(weights, expected)
        with torch.no_grad():
            for k, v in loaded.items():
                if k == conv:
                    unet_state[k].zero_()
                    unet_state[k][:, : config.image_channels].copy_(v)
                else:
                    unet_state[k].copy_(v)
            model.unet.class_embedding.linear_2.weight.zero_()
            model.unet.class_embedding.linear_2.bias.zero_()
        return model


def _read_json(path: Path, missing: str) -> dict:
    """A checkpoint's JSON file; CheckpointError naming the file when it is missing (`missing`
    says what to do) or not valid JSON."""
    if not path.is_file():
        raise CheckpointError(f"{path}: {missing}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); restore or re-save the checkpoint") from exc


def load_config(path: Path) -> MVDiffConfig:
    """Read an MVDiffConfig JSON file; CheckpointError naming the file on any problem."""
    raw = _read_json(path, "config file missing; the checkpoint is incomplete, save it again")
    try:
        return MVDiffConfig.from_dict(raw)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def _read_safetensors(path: Path, expected: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """Read exactly the tensors named in `expected` (key -> shape) as float32, checking keys and
    shapes from the header first so a mismatch costs no loading."""
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            missing = sorted(set(expected) - keys)
            unexpected = sorted(keys - set(expected))
            if missing:
                raise CheckpointError(f"{path}: missing tensor {missing[0]!r} ({len(missing)} missing); "
                                      "the checkpoint was saved by a different model or config")
            if unexpected:
                raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} unexpected); "
                                      "the checkpoint was saved by a different model or config")
            for k in sorted(expected):
                shape = tuple(f.get_slice(k).get_shape())
                if shape != tuple(expected[k]):
                    raise CheckpointError(f"{path}: tensor {k!r} has shape {_shape(shape)} but the model "
                                          f"expects {_shape(expected[k])}; check the config")
            return {k: f.get_tensor(k).float() for k in expected}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error types on a corrupt header
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); re-save the checkpoint") from exc


def _check_diffusers_config(path: Path, config: MVDiffConfig) -> None:
    """Compare a diffusers UNet config.json with `config`'s plain UNet shape."""
    raw = _read_json(path, "diffusers UNet config missing")
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
