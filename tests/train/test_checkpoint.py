"""Training checkpoints of named objects: exact round trip, atomic writes, keep-last-K,
strict names, one-line errors; EMA."""

from __future__ import annotations

import torch

import pytest

from humanmv.errors import CheckpointError
from humanmv.train.checkpoint import (checkpoint_steps, latest_checkpoint, load_checkpoint,
                                      remove_stale_temporaries, save_checkpoint)
from humanmv.train.ema import EMA, ema_decay_at
from humanmv.train.recipe import TrainObjects


def _objects(seed: int = 0):
    from diffusers.optimization import get_scheduler

    from humanmv.models.config import get_config
    from humanmv.models.mv_unet import MultiViewUNet

    torch.manual_seed(seed)
    model = MultiViewUNet(get_config("tiny"))
    ema = EMA(model, 0.99)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = get_scheduler("cosine", opt, num_warmup_steps=2, num_training_steps=10)
    return model, ema, opt, sched


def _named(model, ema, opt, sched) -> TrainObjects:
    return TrainObjects(modules={"model": model}, optimizers={"model": opt}, schedulers={"model": sched},
                        emas={"model": ema})


_STATE = {"recipe": "test", "config": {"seed": 0}, "options": {}}


def _train_steps(model, ema, opt, sched, steps: int) -> None:
    for step in range(1, steps + 1):
        loss = sum((p.float() ** 2).mean() for p in model.parameters())
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        ema.update(model, step)


def test_round_trip_is_exact(tmp_path):
    model, ema, opt, sched = _objects(0)
    _train_steps(model, ema, opt, sched, 3)
    folder = save_checkpoint(tmp_path, 3, _named(model, ema, opt, sched), _STATE)
    assert folder == tmp_path / "checkpoint-3" == latest_checkpoint(tmp_path)
    assert (folder / "modules" / "model" / "config.json").is_file()  # a save_pretrained folder

    model2, ema2, opt2, sched2 = _objects(1)  # different weights, fresh optimizer
    state = load_checkpoint(folder, _named(model2, ema2, opt2, sched2))
    assert state["step"] == 3 and state["config"] == {"seed": 0} and state["recipe"] == "test"
    for a, b in [(model, model2), (ema.model, ema2.model)]:
        for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), k
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(torch.as_tensor(s1["state"][i][k]), torch.as_tensor(s2["state"][i][k]))
    assert sched.state_dict() == sched2.state_dict()
    # and the next steps match exactly
    _train_steps(model, ema, opt, sched, 1)
    _train_steps(model2, ema2, opt2, sched2, 1)
    for x, y in zip(model.parameters(), model2.parameters()):
        assert torch.equal(x, y)


def test_keep_last_k_and_stale_temporaries(tmp_path):
    model, ema, opt, sched = _objects(0)
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, _named(model, ema, opt, sched), _STATE, keep=2)
    assert [s for s, _ in checkpoint_steps(tmp_path)] == [3, 4]
    half = tmp_path / ".checkpoint-5.tmp-abc"  # what a kill mid-save leaves
    (half / "modules" / "model").mkdir(parents=True)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    remove_stale_temporaries(tmp_path)
    assert not half.exists()
    assert latest_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize("damage", ["optimizer", "state", "weights"])
def test_corrupt_checkpoint_is_one_line_error(tmp_path, damage):
    model, ema, opt, sched = _objects(0)
    folder = save_checkpoint(tmp_path, 1, _named(model, ema, opt, sched), _STATE)
    if damage == "optimizer":
        (folder / "optimizers" / "model.pt").write_bytes(b"not a zip file")
    elif damage == "state":
        (folder / "trainer_state.json").unlink()
    else:
        (folder / "emas" / "model" / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder, _named(_objects(0)[0], ema, opt, sched))
    assert "\n" not in str(err.value) and str(folder) in str(err.value)


def _gan_objects(seed: int, hidden: int = 8) -> TrainObjects:
    torch.manual_seed(seed)
    g, d = torch.nn.Linear(2, hidden), torch.nn.Linear(hidden, 1)
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    return TrainObjects(modules={"G": g, "D": d}, optimizers={"G": opt_g, "D": opt_d},
                        schedulers={"G": torch.optim.lr_scheduler.StepLR(opt_g, 2)}, emas={"G": EMA(g)})


def test_several_named_objects_round_trip_strictly(tmp_path):
    objects = _gan_objects(0)
    loss = objects.modules["D"](objects.modules["G"](torch.ones(3, 2))).sum()
    loss.backward()
    for opt in objects.optimizers.values():
        opt.step()
    objects.schedulers["G"].step()
    objects.emas["G"].update(objects.modules["G"], 1)
    folder = save_checkpoint(tmp_path, 1, objects, _STATE)
    assert sorted(p.name for p in (folder / "optimizers").iterdir()) == ["D.pt", "G.pt"]
    assert not (folder / "modules" / "G" / "config.json").exists()  # a plain module has no config

    loaded = _gan_objects(1)
    load_checkpoint(folder, loaded)
    for name in ("G", "D"):
        assert all(torch.equal(a, b) for a, b in zip(objects.modules[name].state_dict().values(),
                                                     loaded.modules[name].state_dict().values()))
    assert torch.equal(loaded.emas["G"].model.weight, objects.emas["G"].model.weight)
    assert torch.equal(loaded.optimizers["D"].state_dict()["state"][0]["exp_avg"],
                       objects.optimizers["D"].state_dict()["state"][0]["exp_avg"])
    assert loaded.schedulers["G"].state_dict() == objects.schedulers["G"].state_dict()

    wrong_shape = _gan_objects(0, hidden=4)
    with pytest.raises(CheckpointError, match="modules/G/model.safetensors") as err:
        load_checkpoint(folder, wrong_shape)
    assert "\n" not in str(err.value)
    no_d = _gan_objects(0)
    del no_d.modules["D"], no_d.optimizers["D"]
    with pytest.raises(CheckpointError, match="modules/D") as err:  # a module this run does not build
        load_checkpoint(folder, no_d)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="emas"):
        TrainObjects(modules={"G": torch.nn.Linear(1, 1)}, emas={"X": EMA(torch.nn.Linear(1, 1))})


def test_ema_decay_matches_diffusers_warmup():
    from diffusers.training_utils import EMAModel

    ref = EMAModel([torch.nn.Parameter(torch.zeros(1))], decay=0.999)
    for step in (1, 2, 5, 50, 5000):
        assert ema_decay_at(step, 0.999) == pytest.approx(ref.get_decay(step))


def test_ema_update_moves_towards_model():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, 0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = ema.model.weight.clone()
    assert ema.update(model, 1) == 0.0  # step 1 copies
    assert torch.equal(ema.model.weight, model.weight)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = ema.model.weight.clone()
    d = ema.update(model, 3)  # warm-up: (1 + 2) / (10 + 2) = 0.25
    assert d == pytest.approx(0.25)
    assert torch.allclose(ema.model.weight, before * d + model.weight * (1 - d))
    assert not ema.model.weight.requires_grad
