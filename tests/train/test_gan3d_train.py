"""The gan3d recipe on the generic loop: D learns on a fixed batch and both networks move,
the ablation switches reach the models, same seed same weights, an exact resume after
SIGKILL, a loadable export, and the CLI's runs and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "data"))
import gan3d_data  # noqa: E402
import gan3d_standins as standins  # noqa: E402
import train_standins  # noqa: E402

SCRIPT = str(HERE / "gan3d_standins.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory, body, renderer) -> Path:
    return gan3d_data.gan3d_dataset(tmp_path_factory, body, renderer)


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _steps(recipe, cfg, options, batch, n: int) -> list[dict]:
    """n training steps of the recipe on one fixed batch, outside the loop (CPU accelerator)."""
    from accelerate import Accelerator

    from humanmv.train.recipe import StepContext

    objects = recipe.build(cfg, options)
    ctx = StepContext(step=0, rank=0, cfg=cfg, options=options, accelerator=Accelerator(cpu=True),
                      modules=objects.modules, optimizers=objects.optimizers, schedulers=objects.schedulers)
    logs = []
    for step in range(1, n + 1):
        ctx.step = step
        logs.append({k: float(torch.as_tensor(v).detach()) for k, v in recipe.training_step(ctx, batch).items()
                     if v is not None})
    return logs, objects


def _fixed_batch(recipe, data, cfg, options):
    from torch.utils.data import default_collate

    from humanmv.data.gan3d_views import GAN3DViews

    from humanmv.train.recipes.gan3d import gan3d_config

    c = gan3d_config(options)
    ds = GAN3DViews(data, recipe.body, c.image_height, c.image_width, renderer=recipe.renderer)
    return default_collate([ds[0], ds[45]])


def test_d_learns_a_fixed_batch_and_both_networks_move(data, body, renderer, tmp_path):
    recipe = standins.KillableGAN3D(body=body, renderer=renderer)
    cfg, options = standins.tiny_config(data, tmp_path, 16, lr=1e-3)
    batch = _fixed_batch(recipe, data, cfg, options)
    torch.manual_seed(0)
    start = {k: v.clone() for k, v in recipe.build(cfg, options).modules["G"].state_dict().items()}
    torch.manual_seed(0)
    logs, objects = _steps(recipe, cfg, options, batch, 16)
    assert all(torch.isfinite(torch.tensor(list(log.values()))).all() for log in logs), logs
    loss_d = [log["loss_d"] for log in logs]
    assert sum(loss_d[-3:]) / 3 < 0.85 * loss_d[0], [round(v, 3) for v in loss_d]
    assert "r1" in logs[1] and "r1" not in logs[0]  # lazy R1 on every 2nd step
    moved = [k for k, v in objects.modules["G"].state_dict().items() if not torch.equal(v, start[k])]
    for part in ("pose_mapping.", "appearance.layers", "backbone.spades", "backbone.w_convs", "backbone.to_mask"):
        assert any(k.startswith(part) for k in moved), part


def test_ablation_switches_reach_the_models_and_the_binary_loss_trains(data, body, renderer, tmp_path):
    from humanmv.train.recipes.gan3d import GAN3DOptions, gan3d_config

    config = gan3d_config(GAN3DOptions(config="tiny", backbone="upsampling", norm="instance", disc_loss="binary"))
    assert (config.name, config.backbone, config.norm, config.disc_loss) == ("tiny", "upsampling", "instance", "binary")
    assert gan3d_config(GAN3DOptions(config="small")).image_height == 128
    recipe = standins.KillableGAN3D(body=body, renderer=renderer)
    cfg, options = standins.tiny_config(data, tmp_path, 2, disc_loss="binary", backbone="upsampling")
    batch = _fixed_batch(recipe, data, cfg, options)
    logs, objects = _steps(recipe, cfg, options, batch, 2)
    assert objects.modules["D"].segmentation is False and objects.modules["G"].config.backbone == "upsampling"
    assert all(torch.isfinite(torch.tensor(list(log.values()))).all() for log in logs) and "r1" in logs[1]


@pytest.fixture(scope="module")
def runs(data, body, renderer, tmp_path_factory) -> Path:
    """Three 3-step runs: a (seed 0, samples), b (seed 0 again), c (seed 1)."""
    root = tmp_path_factory.mktemp("gan3d_runs")
    standins.run(data, root / "a", 3, 3, body=body, renderer=renderer, sample_every=3)
    standins.run(data, root / "b", 3, 3, body=body, renderer=renderer)
    standins.run(data, root / "c", 3, 3, body=body, renderer=renderer, seed=1)
    return root


def test_same_seed_same_weights_other_seed_other_weights(runs):
    for part in ("final", "checkpoint-3/modules/G", "checkpoint-3/modules/D", "checkpoint-3/emas/G"):
        assert _same(runs / "a" / part, runs / "b" / part), part
        assert not _same(runs / "a" / part, runs / "c" / part), part
    from humanmv.models.gan3d import GAN3DGenerator, get_gan3d_config

    torch.manual_seed(0)  # the loop's initialisation: training moved the weights away from it
    start = GAN3DGenerator(get_gan3d_config("tiny")).state_dict()
    trained = _weights(runs / "a" / "checkpoint-3" / "modules" / "G")
    assert trained.keys() == start.keys() and any(not torch.equal(trained[k], start[k]) for k in start)


def test_export_loads_and_generates(runs, data, body, renderer):
    from torch.utils.data import default_collate

    from humanmv.data.gan3d_views import GAN3DViews
    from humanmv.models.gan3d import GAN3DGenerator

    final = runs / "a" / "final"
    G = GAN3DGenerator.from_pretrained(final)
    assert G.config.name == "tiny" and not G.training
    # The export is the EMA's weights with batch-norm statistics recalibrated for them.
    exported, ema = _weights(final), _weights(runs / "a" / "checkpoint-3" / "emas" / "G")
    stats = [k for k in ema if "running_" in k or "num_batches" in k]
    assert stats and exported.keys() == ema.keys()
    assert all(torch.equal(exported[k], ema[k]) for k in ema if k not in stats)
    assert all(int(exported[k]) == 1 for k in stats if "num_batches" in k)  # 6 views: one batch of up to 8
    assert not all(torch.equal(exported[k], ema[k]) for k in stats if "running_mean" in k)
    assert not _same(final, runs / "a" / "checkpoint-3" / "modules" / "G")
    recipe = standins.KillableGAN3D(body=body, renderer=renderer)
    batch = default_collate([GAN3DViews(data, body, 32, 16, renderer=renderer)[i] for i in (3, 50)])
    with torch.no_grad():
        out = G(torch.randn(2, G.config.z_dim, generator=torch.Generator().manual_seed(0)),
                recipe.shell_batch(batch, G.config, None))
    assert out.rgb.shape == (2, 3, 32, 16) and torch.isfinite(out.rgb).all() and float(out.rgb.std()) > 1e-3
    summary = json.loads((final / "training.json").read_text())
    assert summary["recipe"] == "gan3d" and summary["gan3d_config"]["name"] == "tiny"
    assert (runs / "a" / "samples" / "step-3.png").is_file()
    log = [json.loads(line) for line in (runs / "a" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3] and "r1" in log[1] and "r1" not in log[0]
    assert all(k in log[-1] for k in ("loss_d", "loss_g", "lr_G", "lr_D")) and log[-1]["lr_D"] == 2 * log[-1]["lr_G"]


def test_sigkill_then_resume_equals_uninterrupted(data, body, renderer, tmp_path):
    """Kill -9 as step 3 starts (after checkpoint-2), resume to 4: every module, the EMA and
    both optimizers equal those of an uninterrupted run."""
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    train_standins.run_killed_at([SCRIPT, str(data), str(killed), "4", "2", "--kill-at", "3"],
                                 lambda: standins.run(data, clean, 4, 2, body=body, renderer=renderer))
    assert (killed / "checkpoint-2").is_dir() and not (killed / "checkpoint-4").exists()
    resumed = standins.run(data, killed, 4, 2, resume=True, body=body, renderer=renderer)
    assert resumed["steps_this_session"] == 2
    a, b = killed / "checkpoint-4", clean / "checkpoint-4"
    for part in ("modules/G", "modules/D", "emas/G"):
        assert _same(a / part, b / part), part
    for part in ("optimizers/G.pt", "optimizers/D.pt"):
        sa, sb = torch.load(a / part, weights_only=True), torch.load(b / part, weights_only=True)
        assert sa["param_groups"] == sb["param_groups"]
        assert all(torch.equal(sa["state"][i][k], sb["state"][i][k]) for i in sa["state"] for k in sa["state"][i])
    assert _same(killed / "final", clean / "final")


def _cli(args: list[str], capsys) -> tuple[int, str]:
    from humanmv.cli import main

    with pytest.raises(SystemExit) as done:
        main(["train", "gan3d", *args])
    return done.value.code, capsys.readouterr().err.strip()


def test_cli_trains_resumes_and_errors_in_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--data", str(data), "--config", "tiny", "--batch-size", "1", "--quiet"]
    for args, words in [(["--out", str(tmp_path / "o1"), "--data", str(tmp_path / "none")],
                         ["does not exist", "humanmv synth"]),
                        (["--out", str(tmp_path / "o2"), "--config", "huge"], ["huge", "tiny"]),
                        (["--out", str(tmp_path / "o3"), "--exclude-pose-family", "walking", "--exclude-pose-family",
                          "a-pose"], ["no train subjects", "walking"]),
                        (["--out", str(tmp_path / "o4"), "--exclude-pose-family", "walk"], ["unknown pose family"]),
                        (["--out", str(tmp_path / "o5"), "--backbone", "3x3"], ["backbone", "upsampling"]),
                        (["--out", str(tmp_path / "o6"), "--r1-every", "0"], ["--r1-every"]),
                        (["--out", str(tmp_path / "o7"), "--num-workers", "1"], ["--num-workers", "0"])]:
        code, err = _cli(base + args, capsys)
        assert code == 2 and "\n" not in err and all(w in err for w in words), (args, err)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 8))

    code, err = _cli(base + ["--out", str(out), "--steps", "1", "--exclude-pose-family", "walking"], capsys)
    assert code == 0, err
    assert json.loads((out / "final" / "training.json").read_text())["options"]["exclude_pose_families"] == ["walking"]
    code, err = _cli(base + ["--out", str(out), "--steps", "2", "--exclude-pose-family", "walking", "--resume"], capsys)
    assert code == 0, err  # the same held-out family given again (a list in the checkpoint, a tuple here)
    code, err = _cli(base + ["--out", str(out), "--steps", "3", "--exclude-pose-family", "t-pose", "--resume"], capsys)
    assert code == 2 and "\n" not in err and "exclude_pose_families" in err


def test_mode_seeking_loss_falls_as_images_of_other_codes_differ():
    from humanmv.train.recipes.gan3d import mode_seeking_loss

    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 8, 4, generator=g)
    z1, z2 = torch.randn(2, 16, generator=g), torch.randn(2, 16, generator=g)
    same, close, far = (mode_seeking_loss(a, a + d, z1, z2) for d in (0.0, 0.01, 0.5))
    assert float(same) > float(close) > float(far) > 0
    assert torch.allclose(mode_seeking_loss(a, a + 0.5, z1, z1 + 2), far * (2 / (z1 - z2).abs().mean(1)).mean(), rtol=0.2)
