"""MultiViewUNet: diffusers' UNet2DConditionModel jointly denoising the N views of a subject.

Building blocks (seed 000 / Zero123 / Wonder3D / DiffPortrait360 style), each plugged into the
diffusers UNet (input channels, class embedding, attention processors, forward hooks) rather than
built into a copy of it, so the UNet's state dict stays a plain diffusers one:
- input conditions: per-view condition maps (the prior's coarse RGBA + normal map) concatenated
  to the noisy input (in_channels = image_channels + condition_channels; 0 = none);
- camera: camera_features (N, 12) enter through the UNet's class embedding
  (class_embed_type="projection"), which is added to the time embedding;
- reference attention with R streams: the same UNet first runs on the R clean reference images
  of each subject (timestep 0, their own conditions, their camera: identity = the photo's) and
  stores every attn1 input; each target view's self-attention appends the tokens of all R
  streams of its subject to its keys/values (models/attention.py);
- cross-attention tokens: a small conv encoder's image tokens of each reference stream, then any
  extra token streams (e.g. a face stage's identity and 3D-shape tokens), feed attn2;
- cross-view attention: the attn1 layers join the tokens of all N views of a subject
  (config.cross_view);
- view-sequence blocks: attention along the N views at every token, after every transformer
  block, zero-initialised (config.view_sequence, off by default; models/view_sequence.py).

Classifier-free guidance / training dropout is per subject (`drop_reference` (S,) bool): a
dropped subject gets no reference keys (masked out) and ZERO cross-attention tokens (image and
extra ones alike). Zeros rather than none, so that every row of a batch has the same number of
tokens (the guided and unguided subjects run in one batch); with all tokens zero the
cross-attention output is the same whatever their number, so a dropped subject's prediction does
not depend on which token streams the model was given.

Tensors: noisy (S, N, image_channels, h, w) in model space ([-1, 1] for pixels); conditions
(S, N, condition_channels, h, w); references (S, R, image_channels, h', w') and their conditions
(S, R, condition_channels, h', w') ((S, C, h', w') = one stream): [0, 1] for pixel configs (scaled
to [-1, 1] here), VAE latents for latent configs (used as given).

Checkpoints: folder/config.json (MVDiffConfig.to_dict) + folder/model.safetensors (models/checkpoint.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from humanmv.errors import CheckpointError
from humanmv.io.atomic import atomic_output_dir
from humanmv.models.attention import MultiViewContext, multiview_processors
from humanmv.models.camera import identity_camera
from humanmv.models.checkpoint import CONFIG_NAME, copy_diffusers_weights, diffusers_weights, load_config
from humanmv.models.config import MVDiffConfig
from humanmv.models.image_encoder import ImageEncoder
from humanmv.models.view_sequence import attach_view_sequence
from humanmv.models.weights import WEIGHTS_NAME, read_safetensors, save_safetensors, shape_text

VIEW_SEQUENCE_PREFIX = "view_sequence."


@dataclass
class ReferenceState:
    """What the target pass needs from the references (the same for every denoising step).

    tokens: (S, T, cross_attention_dim) cross-attention tokens: R * num_image_tokens image
        tokens (stream by stream), then the extra tokens; zero for dropped subjects.
    bank: attn1 layer -> (K, L, C) reference tokens, one row per (kept subject, stream).
    ref_index: (S, R) long, the bank row of stream r of subject s, -1 where dropped; None when
        there is no bank (reference attention off, or every subject dropped).
    keep: (S,) bool, the subjects that were not dropped.
    """

    tokens: torch.Tensor
    keep: torch.Tensor
    bank: dict[str, torch.Tensor] = field(default_factory=dict)
    ref_index: torch.Tensor | None = None


class MultiViewUNet(nn.Module):
    """The mvdiff denoiser. `model(noisy, timesteps, conditions, camera, reference,
    reference_conditions, drop_reference=None)` -> (S, N, image_channels, h, w) prediction of
    `config.prediction_type` (see `forward` for the optional streams)."""

    def __init__(self, config: MVDiffConfig):
        super().__init__()
        self.config = config
        self.unet = UNet2DConditionModel(**config.unet_kwargs())
        self.image_encoder = ImageEncoder(
            config.image_channels, config.encoder_channels, config.cross_attention_dim, config.num_image_tokens
        )
        self.unet.set_attn_processor(multiview_processors(self.unet.attn_processors, config.cross_view))
        if config.view_sequence:
            # Held here, not in the UNet: their keys ("view_sequence.*") are new ones, the UNet's unchanged.
            self.view_sequence = attach_view_sequence(
                self.unet, config.view_sequence_window, config.view_sequence_cyclic
            )

    # -- inputs ----------------------------------------------------------------------------
    def _to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1 if self.config.space == "pixel" else x

    @staticmethod
    def _check(name: str, x: torch.Tensor, shape: tuple) -> None:
        """ValueError unless x has `shape` (None = any size)."""
        if x.ndim != len(shape) or any(e is not None and s != e for s, e in zip(x.shape, shape)):
            want = "(" + ", ".join("?" if e is None else str(e) for e in shape) + ")"
            raise ValueError(f"MultiViewUNet: {name} must have shape {want}, got {shape_text(x)}")

    def _with_conditions(self, name: str, x: torch.Tensor, conditions: torch.Tensor | None) -> torch.Tensor:
        """The UNet input: x (..., C_img, h, w) with its input conditions (..., C_cond, h, w)
        concatenated along the channels; conditions may be None when condition_channels is 0."""
        if conditions is None:
            if self.config.condition_channels:
                raise ValueError(f"MultiViewUNet: {name} missing ({self.config.condition_channels} channels)")
            return x
        return torch.cat([x, self._to_model_space(conditions)], dim=-3)

    def _streams(self, name: str, x: torch.Tensor | None, shape: tuple) -> torch.Tensor | None:
        """A reference-like tensor as (S, R, C, h, w): (S, C, h, w) is one stream. shape: the
        expected (S, R, C, h, w), None = any size."""
        if x is None:
            return None
        x = x[:, None] if x.ndim == 4 else x
        self._check(name, x, shape)
        return x

    # -- forward ---------------------------------------------------------------------------
    def encode_reference(
        self,
        reference: torch.Tensor,
        reference_conditions: torch.Tensor | None,
        drop_reference: torch.Tensor | None = None,
        extra_tokens: torch.Tensor | None = None,
        reference_camera: torch.Tensor | None = None,
    ) -> ReferenceState:
        """Cross-attention tokens + the reference pass (write mode), once per sample: the
        pipeline reuses the state for every denoising step.

        reference (S, R, C_img, h, w) or (S, C_img, h, w) (R = 1); reference_conditions the same
        with C_cond channels (None when condition_channels is 0); drop_reference (S,) bool or None;
        extra_tokens (S, T, cross_attention_dim) or None, appended after the image tokens;
        reference_camera (S, R, 12) camera_features of each stream relative to the photo's camera,
        None = the photo's camera itself (identity) for every stream.
        """
        c = self.config
        s = reference.shape[0]
        ref = self._streams("reference", reference, (s, None, c.image_channels, None, None))
        r, size = ref.shape[1], tuple(ref.shape[-2:])
        ref_cond = self._streams("reference_conditions", reference_conditions, (s, r, c.condition_channels, *size))
        drop = torch.zeros(s, dtype=torch.bool) if drop_reference is None else drop_reference.bool().cpu()
        self._check("drop_reference", drop, (s,))
        if reference_camera is not None:
            self._check("reference_camera", reference_camera, (s, r, c.camera_dim))
        ref = self._to_model_space(ref)
        keep = (~drop).to(ref.device)
        tokens = self.image_encoder(ref.flatten(0, 1)) * keep.repeat_interleave(r).to(ref.dtype)[:, None, None]
        state = ReferenceState(tokens.reshape(s, -1, tokens.shape[-1]), keep)
        if c.reference_attention and not bool(drop.all()):
            self._write_reference_bank(state, ref, ref_cond, drop, reference_camera)
        if extra_tokens is not None:
            state.tokens = self._append_tokens(state, extra_tokens)
        return state

    def _write_reference_bank(self, state: ReferenceState, ref: torch.Tensor, ref_cond: torch.Tensor | None,
                              drop: torch.Tensor, reference_camera: torch.Tensor | None) -> None:
        """The reference pass: the UNet on the kept subjects' R streams (ref (S, R, C_img, h, w) in
        model space) at t = 0 fills state.bank and state.ref_index. Each stream cross-attends to
        its subject's image tokens of all R streams (not the extra tokens, which condition only
        the target views: so extra tokens given to forward or to encode_reference act the same)."""
        s, r = ref.shape[:2]
        kept = (~drop).nonzero().squeeze(1)
        index = torch.full((s, r), -1, dtype=torch.long)
        index[kept] = torch.arange(len(kept) * r).view(-1, r)
        state.ref_index = index.to(ref.device)
        kept = kept.to(ref.device)
        cams = identity_camera(len(kept) * r) if reference_camera is None else reference_camera[kept].flatten(0, 1)
        mv = MultiViewContext(num_views=1, mode="write", bank=state.bank)
        # The output is not needed: the pass exists to fill the bank with attn1 inputs.
        self.unet(
            self._with_conditions("reference_conditions", ref[kept],
                                  None if ref_cond is None else ref_cond[kept]).flatten(0, 1),
            torch.zeros(len(kept) * r, dtype=torch.long, device=ref.device),
            encoder_hidden_states=state.tokens[kept].repeat_interleave(r, dim=0),
            class_labels=cams.to(ref),
            cross_attention_kwargs={"mv": mv},
        )

    def _append_tokens(self, state: ReferenceState, extra_tokens: torch.Tensor) -> torch.Tensor:
        """state.tokens (S, T, D) + extra_tokens (S, T', D), zeroed for dropped subjects -> (S, T + T', D)."""
        s, d = state.tokens.shape[0], self.config.cross_attention_dim
        self._check("extra_tokens", extra_tokens, (s, None, d))
        extra = extra_tokens.to(state.tokens) * state.keep.to(state.tokens)[:, None, None]
        return torch.cat([state.tokens, extra], dim=1)

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        conditions: torch.Tensor | None,
        camera: torch.Tensor,
        reference: torch.Tensor | None = None,
        reference_conditions: torch.Tensor | None = None,
        drop_reference: torch.Tensor | None = None,
        reference_state: ReferenceState | None = None,
        extra_tokens: torch.Tensor | None = None,
        reference_camera: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """noisy (S, N, C_img, h, w), timesteps (S,) long, conditions (S, N, C_cond, h, w) (None
        when condition_channels is 0), camera (S, N, 12); reference, reference_conditions,
        drop_reference, extra_tokens, reference_camera: see `encode_reference`. Pass
        `reference_state` (from encode_reference) instead of the reference arguments to reuse a
        reference pass; extra_tokens given here are then appended to its tokens.
        Returns (S, N, C_img, h, w)."""
        c = self.config
        self._check("noisy", noisy, (None, None, c.image_channels, None, None))
        s, n, _, h, w = noisy.shape
        self._check("timesteps", timesteps, (s,))
        if conditions is not None:
            self._check("conditions", conditions, (s, n, c.condition_channels, h, w))
        self._check("camera", camera, (s, n, c.camera_dim))
        if reference_state is None:
            if reference is None:
                raise ValueError("MultiViewUNet: pass reference and reference_conditions (or reference_state)")
            self._streams("reference", reference, (s, None, c.image_channels, h, w))
            reference_state = self.encode_reference(reference, reference_conditions, drop_reference,
                                                    extra_tokens, reference_camera)
        elif extra_tokens is not None:
            reference_state = dataclasses.replace(reference_state,
                                                  tokens=self._append_tokens(reference_state, extra_tokens))
        mode = "read" if reference_state.bank else "none"
        mv = MultiViewContext(num_views=n, mode=mode, bank=reference_state.bank, ref_index=reference_state.ref_index)
        out = self.unet(
            self._with_conditions("conditions", noisy, conditions).flatten(0, 1),
            timesteps.to(noisy.device).long().repeat_interleave(n),
            encoder_hidden_states=reference_state.tokens.repeat_interleave(n, dim=0),
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
            save_safetensors(self.state_dict(), tmp / WEIGHTS_NAME)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], **changes) -> "MultiViewUNet":
        """Load a folder written by save_pretrained; CheckpointError (naming the file) on any
        missing file, bad JSON, unknown config field, missing/unexpected tensor or wrong shape.

        changes: MVDiffConfig fields to override (ConfigError if invalid), e.g.
        `view_sequence=True` to add view-sequence blocks to a model trained without them: they
        start zero-initialised (the loaded model's output is unchanged); every tensor of the file
        must still match exactly.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: checkpoint folder not found; pass a folder written by save_pretrained")
        saved = load_config(folder / CONFIG_NAME)
        config = MVDiffConfig.from_dict({**saved.to_dict(), **changes}) if changes else saved
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise CheckpointError(f"{weights}: weights file missing; the checkpoint is incomplete, save it again")
        model = cls(config)
        own = model.state_dict()
        fresh = {k for k in own if k.startswith(VIEW_SEQUENCE_PREFIX)} if not saved.view_sequence else set()
        state = read_safetensors(weights, {k: tuple(v.shape) for k, v in own.items() if k not in fresh})
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert set(missing) == fresh and not unexpected, (missing, unexpected)
        return model

    @classmethod
    def from_diffusers_unet(cls, folder: str | os.PathLike[str], config: MVDiffConfig) -> "MultiViewUNet":
        """A model whose UNet starts from a diffusers-format UNet folder (config.json +
        diffusion_pytorch_model.safetensors, e.g. Stable Diffusion 2.1's unet/); the extra input
        channels and the camera projection start at zero (`checkpoint.copy_diffusers_weights`), the
        image encoder fresh, view-sequence blocks (if on) as the identity. CheckpointError naming the
        file when the folder does not fit `config`."""
        weights = diffusers_weights(Path(folder), config)  # checked before building a large model
        model = cls(config)
        copy_diffusers_weights(model.unet, weights, config)
        return model
