"""The face stage's model folder: a round trip keeps every output; another model's folder or a
mis-shaped file is refused with one line naming the file."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_model import tiny_face_model  # noqa: E402
from humanmv.errors import CheckpointError
from humanmv.models.face_unet import KIND_FILE, FaceStageModel
from humanmv.models.weights import WEIGHTS_NAME, save_safetensors

E = 52


def _inputs(model, s=1, n=2):
    c = model.config
    h = c.sample_size
    g = torch.Generator().manual_seed(1)
    return dict(noisy=torch.randn(s, n, 4, h, h, generator=g), timesteps=torch.tensor([500] * s),
                conditions=torch.rand(s, n, 15, h, h, generator=g), camera=torch.randn(s, n, 12, generator=g),
                reference=torch.rand(s, 4, h, h, generator=g), reference_conditions=torch.rand(s, 15, h, h, generator=g),
                identity=torch.randn(s, 128, generator=g), has_identity=torch.ones(s, dtype=torch.bool),
                shape=torch.randn(s, 6 + E, generator=g))


def test_round_trip_keeps_the_outputs(tmp_path):
    model = tiny_face_model(E)
    x = _inputs(model)
    with torch.no_grad():
        before = model(**x)
    folder = model.save_pretrained(tmp_path / "face")
    assert sorted(p.name for p in folder.iterdir()) == ["face_stage.json", "model", "scheduler_config.json", "tokens"]
    again = FaceStageModel.from_pretrained(folder)
    with torch.no_grad():
        assert torch.allclose(again(**x), before, atol=1e-6)
    assert FaceStageModel.scheduler_config(folder)["timestep_spacing"] == "trailing"


def test_identity_and_shape_streams_change_the_output():
    model = tiny_face_model(E)
    for p in model.unet.parameters():  # random weights, but the cross-attention must not be zero
        p.data += 0.01 * torch.randn_like(p)
    x = _inputs(model)
    with torch.no_grad():
        base = model(**x)
        no_id = model(**{**x, "has_identity": torch.zeros(1, dtype=torch.bool)})
        no_shape = model(**x, has_shape=torch.zeros(1, dtype=torch.bool))
    assert (base - no_id).abs().max() > 1e-5 and (base - no_shape).abs().max() > 1e-5


def test_bad_folders_name_the_file(tmp_path):
    model = tiny_face_model(E)
    folder = model.save_pretrained(tmp_path / "face")
    mvdiff = tmp_path / "mvdiff"
    shutil.copytree(folder / "model", mvdiff / "model")  # an mvdiff pipeline folder has no face_stage.json
    with pytest.raises(CheckpointError, match=f"{KIND_FILE}: missing: not a face-stage checkpoint"):
        FaceStageModel.from_pretrained(mvdiff)
    (mvdiff / KIND_FILE).write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(CheckpointError, match="not a face-stage checkpoint"):
        FaceStageModel.from_pretrained(mvdiff)
    # Wrong shapes: tokens of another shape size.
    bad = tiny_face_model(E + 3).tokens.state_dict()
    save_safetensors(bad, folder / "tokens" / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match=r"tokens/model.safetensors: tensor .* has shape"):
        FaceStageModel.from_pretrained(folder)
    with pytest.raises(CheckpointError, match="face-stage folder not found"):
        FaceStageModel.from_pretrained(tmp_path / "nowhere")
