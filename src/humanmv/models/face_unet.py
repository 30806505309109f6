"""FaceStageModel: the face stage's denoiser (seed 000, stage 2) = a MultiViewUNet on face crops
+ the identity and face-shape tokens its cross-attention reads (`models.face_tokens`).

    model = FaceStageModel.create(get_config("face-small"), FaceTokensConfig(192, shape_dim=6 + 52))
    pred = model(noisy, t, conditions, camera, reference, reference_conditions,
                 identity=identity, has_identity=has_identity, shape=shape, has_shape=has_shape)
    tokens = model.extra_tokens(identity, has_identity, shape, has_shape)      # [S, T, D], for samplers

The UNet is the shared multi-view UNet (cross-view attention over all face crops of a subject,
reference attention to the photo's face crop, camera features); its conditions are 15 maps per
crop: the coarse face RGBA, the fitted head's normals, its face mask and 7 landmark heatmaps.
Shapes as in `MultiViewUNet` (S subjects, N crops each).

Folder (save_pretrained / from_pretrained): model/ (the UNet), tokens/config.json +
tokens/model.safetensors, scheduler_config.json (the sampler's schedule, as an MVDiffPipeline
folder has it), face_stage.json (what this folder is, so a folder of another model is refused
with one line naming the file).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from torch import nn

from humanmv.errors import CheckpointError
from humanmv.io.atomic import atomic_output_dir
from humanmv.models.checkpoint import read_json
from humanmv.models.config import MVDiffConfig
from humanmv.models.face_tokens import FaceTokens, FaceTokensConfig
from humanmv.models.mv_unet import MultiViewUNet
from humanmv.models.weights import WEIGHTS_NAME, load_module_weights, save_module_weights

KIND_FILE = "face_stage.json"
KIND = "humanmv face stage"
SCHEDULER_FILE = "scheduler_config.json"


class FaceStageModel(nn.Module):
    """unet (MultiViewUNet, a face config) + tokens (FaceTokens), trained together."""

    def __init__(self, unet: MultiViewUNet, tokens: FaceTokens):
        super().__init__()
        assert tokens.config.cross_attention_dim == unet.config.cross_attention_dim, \
            (tokens.config.cross_attention_dim, unet.config.cross_attention_dim)
        self.unet, self.tokens = unet, tokens

    @classmethod
    def create(cls, unet_config: MVDiffConfig, tokens_config: FaceTokensConfig) -> "FaceStageModel":
        """A fresh (randomly initialised) model of these configs."""
        return cls(MultiViewUNet(unet_config), FaceTokens(tokens_config))

    @property
    def config(self) -> MVDiffConfig:
        return self.unet.config

    def extra_tokens(self, identity: torch.Tensor, has_identity: torch.Tensor, shape: torch.Tensor,
                     has_shape: torch.Tensor | None = None) -> torch.Tensor:
        """[S, T, D] identity + face-shape tokens (`FaceTokens`)."""
        return self.tokens(identity, has_identity, shape, has_shape)

    def forward(self, noisy, timesteps, conditions, camera, reference, reference_conditions,
                drop_reference: torch.Tensor | None = None, *, identity: torch.Tensor, has_identity: torch.Tensor,
                shape: torch.Tensor, has_shape: torch.Tensor | None = None) -> torch.Tensor:
        """The UNet's prediction with the tokens made inside (so one wrapped forward trains both)."""
        tokens = self.tokens(identity, has_identity, shape, has_shape)
        return self.unet(noisy, timesteps, conditions, camera, reference, reference_conditions,
                         drop_reference=drop_reference, extra_tokens=tokens)

    # -- folders ---------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str], scheduler_config: dict | None = None) -> Path:
        """Write the folder (module docstring) atomically; an existing one is replaced."""
        from humanmv.pipelines.mvdiff import MVDiffPipeline

        folder = Path(folder)
        schedule = scheduler_config or MVDiffPipeline.default_scheduler_config(self.config)
        with atomic_output_dir(folder, overwrite=True) as tmp:
            self.unet.save_pretrained(tmp / "model")
            (tmp / "tokens").mkdir()
            (tmp / "tokens" / "config.json").write_text(json.dumps(dataclasses.asdict(self.tokens.config), indent=2) + "\n")
            save_module_weights(self.tokens, tmp / "tokens" / WEIGHTS_NAME)
            (tmp / SCHEDULER_FILE).write_text(json.dumps(schedule, indent=2) + "\n")
            (tmp / KIND_FILE).write_text(json.dumps({"kind": KIND}) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> "FaceStageModel":
        """Load a folder written by save_pretrained; CheckpointError naming the file when it is
        not a face-stage folder or any file is missing, unreadable or of the wrong shapes."""
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: face-stage folder not found; pass a folder written by "
                                  "`humanmv train face` (its final/)")
        kind = read_json(folder / KIND_FILE, "missing: not a face-stage checkpoint (pass a folder written by "
                         "`humanmv train face`)")
        if kind.get("kind") != KIND:
            raise CheckpointError(f"{folder / KIND_FILE}: not a face-stage checkpoint (kind {kind.get('kind')!r})")
        unet = MultiViewUNet.from_pretrained(folder / "model")
        raw = read_json(folder / "tokens" / "config.json", "missing; the checkpoint is incomplete, save it again")
        try:
            tokens_config = FaceTokensConfig(**raw)
        except TypeError as exc:
            raise CheckpointError(f"{folder / 'tokens' / 'config.json'}: bad token config ({exc})") from None
        if tokens_config.cross_attention_dim != unet.config.cross_attention_dim:
            raise CheckpointError(f"{folder / 'tokens' / 'config.json'}: cross_attention_dim "
                                  f"{tokens_config.cross_attention_dim} does not match the UNet's "
                                  f"{unet.config.cross_attention_dim}")
        return cls(unet, load_module_weights(FaceTokens(tokens_config), folder / "tokens" / WEIGHTS_NAME))

    @staticmethod
    def scheduler_config(folder: str | os.PathLike[str]) -> dict:
        return read_json(Path(folder) / SCHEDULER_FILE, "missing; the checkpoint is incomplete, save it again")


__all__ = ["FaceStageModel", "KIND_FILE"]
