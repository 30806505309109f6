"""The head360 recipe on the generic loop: each stage exports a folder the generator loads
(with its stage recorded), the consistency stage trains only the view-sequence blocks, and a
wrong stage folder is refused naming the file."""

from __future__ import annotations

import json

import pytest
import torch

from humanmv.errors import CheckpointError, ConfigError


def test_back_and_main_stages_export_loadable_folders(head360_checkpoint):
    from humanmv.generators.head360 import load_stage

    back = load_stage(head360_checkpoint / "back", "back")
    main = load_stage(head360_checkpoint / "main", "main")
    assert back.config.name == main.config.name == "tiny"
    assert json.loads((head360_checkpoint / "main" / "head360_stage.json").read_text()) == {
        "stage": "main", "sequence": "continuous"}
    for stage in ("back", "main"):
        assert (head360_checkpoint.parent / stage / "samples" / "step-2.png").is_file()
    with pytest.raises(CheckpointError, match=r"back/head360_stage.json: a 'back' stage, expected 'main'"):
        load_stage(head360_checkpoint / "back", "main")


def test_the_consistency_stage_trains_only_the_view_sequence_blocks(head360_data, head360_checkpoint, tmp_path,
                                                                    one_torch_thread):
    from humanmv.models.mv_unet import VIEW_SEQUENCE_PREFIX, MultiViewUNet
    from humanmv.train.config import TrainConfig
    from humanmv.train.loop import run_training
    from humanmv.train.recipes.head360 import Head360Options

    cfg = TrainConfig(data=str(head360_data), out=str(tmp_path / "run"), steps=2, warmup_steps=1, checkpoint_every=2,
                      sample_every=0, log_every=1, quiet=True, lr=1e-2, ema_decay=0.0)
    run_training("head360", cfg, Head360Options(stage="consistency", views=3, window=3,
                                                init_from=str(head360_checkpoint / "main")))
    before = MultiViewUNet.from_pretrained(head360_checkpoint / "main" / "model").state_dict()
    after = MultiViewUNet.from_pretrained(tmp_path / "run" / "final" / "model")
    assert after.config.view_sequence and after.config.view_sequence_window == 3
    changed = {k for k, v in after.state_dict().items() if k not in before or not torch.equal(v, before[k])}
    assert changed and all(k.startswith(VIEW_SEQUENCE_PREFIX) for k in changed)
    assert json.loads((tmp_path / "run" / "final" / "head360_stage.json").read_text())["stage"] == "consistency"


def test_options_are_checked_in_one_line():
    from humanmv.train.recipes.head360 import Head360Options

    with pytest.raises(ConfigError, match="--stage must be one of back, main, consistency"):
        Head360Options(stage="front").validate()
    with pytest.raises(ConfigError, match="--stage consistency trains on top of a main model: pass --init-from"):
        Head360Options(stage="consistency").validate()
    with pytest.raises(ConfigError, match="--sequence must be one of continuous, random"):
        Head360Options(sequence="shuffled").validate()
