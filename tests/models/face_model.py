"""A tiny random face-stage model and its folder, shared by the face-stage tests."""

from __future__ import annotations

from pathlib import Path

import torch

from humanmv.models.config import get_config
from humanmv.models.face_tokens import FaceTokensConfig
from humanmv.models.face_unet import FaceStageModel


def tiny_face_model(expressions: int, seed: int = 0) -> FaceStageModel:
    torch.manual_seed(seed)
    config = get_config("face-tiny")
    return FaceStageModel.create(config, FaceTokensConfig(config.cross_attention_dim, 6 + expressions, hidden=32)).eval()


def tiny_face_folder(folder: Path, expressions: int, seed: int = 0) -> Path:
    return tiny_face_model(expressions, seed).save_pretrained(folder)
