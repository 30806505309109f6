"""The face recipe on the generic loop: a tiny run on synthetic portraits writes a face-stage
folder the pipeline loads and a sample grid; stream dropout blanks exactly the dropped streams."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def portraits(tmp_path_factory):
    from humanmv.data.synth import synthesize

    root = tmp_path_factory.mktemp("face_train") / "ds"
    synthesize(root, "head-train-haired", 3, seed=3)  # subjects 1 and 2 fall in the train split
    return root


def test_a_tiny_run_exports_a_face_stage_folder(portraits, tmp_path):
    from humanmv.models.face_unet import FaceStageModel
    from humanmv.train.config import TrainConfig
    from humanmv.train.loop import run_training
    from humanmv.train.recipes.face import FaceOptions

    cfg = TrainConfig(data=str(portraits), out=str(tmp_path / "run"), steps=2, warmup_steps=1, checkpoint_every=2,
                      sample_every=2, log_every=1, quiet=True, lr=1e-3)
    summary = run_training("face", cfg, FaceOptions(config="face-tiny", views=2))
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["final_loss"]))
    model = FaceStageModel.from_pretrained(tmp_path / "run" / "final")
    assert model.config.name == "face-tiny" and model.tokens.config.shape_dim == 6 + 52
    assert (tmp_path / "run" / "samples" / "step-2.png").is_file()


def test_stream_dropout_blanks_the_dropped_streams():
    from humanmv.train.recipes.face import drop_streams

    g = torch.Generator().manual_seed(0)
    batch = {"target": torch.rand(2, 3, 4, 8, 8, generator=g), "normal": torch.rand(2, 3, 3, 8, 8, generator=g),
             "extra": torch.rand(2, 3, 8, 8, 8, generator=g), "reference_conditions": torch.rand(2, 7, 8, 8, generator=g),
             "reference_extra": torch.rand(2, 8, 8, 8, generator=g), "has_identity": torch.tensor([True, False])}
    kept = drop_streams(batch, torch.Generator().manual_seed(1), 0.0, 0.0)
    for k in ("normal", "extra", "reference_conditions", "reference_extra"):
        assert torch.equal(kept[k], batch[k])
    assert kept["has_identity"].tolist() == [True, False] and kept["has_shape"].tolist() == [True, True]
    dropped = drop_streams(batch, torch.Generator().manual_seed(1), 1.0, 1.0)
    assert not dropped["has_identity"].any() and not dropped["has_shape"].any()
    assert (dropped["normal"] == 1).all() and (dropped["extra"] == 0).all() and (dropped["reference_extra"] == 0).all()
    assert (dropped["reference_conditions"][:, 4:] == 1).all()
    assert torch.equal(dropped["reference_conditions"][:, :4], batch["reference_conditions"][:, :4])  # the photo stays
