"""The generic loop with a second recipe (tests/train/toy_gan.py: G, D, an EMA of G, two
optimizers, alternating D and G steps): the registry, learning, the export, and an exact
resume after SIGKILL; plus the loop's refusals that no recipe can override."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from humanmv.errors import ConfigError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import toy_gan  # noqa: E402
import train_standins as standins  # noqa: E402


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _same_state(a, b) -> bool:
    """Equal torch.save'd state dicts (nested dicts / lists of tensors and numbers)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    return a == b


def test_registry():
    from humanmv.train.recipe import Recipe, get_recipe, recipe_names, register_recipe
    from humanmv.train.recipes.mvdiff import MVDiffRecipe

    assert type(get_recipe("mvdiff")) is MVDiffRecipe and type(get_recipe("toy-gan")) is toy_gan.ToyGAN
    assert {"mvdiff", "toy-gan"} <= set(recipe_names())
    assert register_recipe(toy_gan.ToyGAN) is toy_gan.ToyGAN  # registering again is harmless
    with pytest.raises(ConfigError) as err:
        get_recipe("gan3d-typo")
    assert "\n" not in str(err.value) and "mvdiff" in str(err.value)

    class Other(toy_gan.ToyGAN):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_recipe(Other)

    @dataclasses.dataclass
    class Clashing(toy_gan.ToyGANOptions):
        lr: float = 1.0

    class Clash(Recipe):
        name, options_class = "clash", Clashing

    with pytest.raises(ValueError, match="lr"):  # one --lr for the loop and the recipe would be ambiguous
        register_recipe(Clash)


def test_gan_learns_with_alternating_steps(tmp_path):
    out = tmp_path / "run"
    summary = toy_gan.run(out, 100, 50, sample_every=100, log_every=25)
    noise = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    g = toy_gan._mlp(4, 32, 2)
    centre = torch.tensor(toy_gan.CENTRE)
    torch.manual_seed(0)  # the loop's initialisation
    with torch.no_grad():
        start = float((g(noise).mean(0) - centre).norm())
        g.load_state_dict(load_file(str(out / "final" / "G.safetensors")))
        end = float((g(noise).mean(0) - centre).norm())
    assert start > 1.5 and end < 0.4, (start, end)
    ckpt = out / "checkpoint-100"
    ema = load_file(str(ckpt / "emas" / "G" / "model.safetensors"))
    assert _same_tensors(ema, load_file(str(out / "final" / "G.safetensors")))  # the export is the EMA
    assert not _same_tensors(ema, load_file(str(ckpt / "modules" / "G" / "model.safetensors")))
    assert sorted(p.name for p in (ckpt / "modules").iterdir()) == ["D", "G"]
    assert sorted(p.name for p in (ckpt / "schedulers").iterdir()) == ["D.pt", "G.pt"]
    assert (out / "samples" / "step-100.png").is_file()
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 4 and all(k in log[-1] for k in ('"loss_d"', '"loss_g"', '"lr_G"', '"lr_D"'))
    assert summary["final_loss"] is None and set(summary["final_losses"]) == {"loss_d", "loss_g"}
    assert summary["modules"] == ["D", "G"] and summary["recipe"] == "toy-gan"


def test_gan_sigkill_then_resume_equals_uninterrupted(tmp_path):
    """Kill -9 as step 5 starts (after checkpoint-4), resume to 6: every module, the EMA and
    both optimizers' and schedulers' states equal those of an uninterrupted run."""
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    standins.run_killed_at([str(HERE / "toy_gan.py"), str(killed), "6", "2", "--kill-at", "5"],
                           lambda: toy_gan.run(clean, 6, 2))
    assert (killed / "checkpoint-4").is_dir() and not (killed / "checkpoint-6").exists()
    assert not (killed / "final").exists()
    resumed = toy_gan.run(killed, 6, 2, resume=True)
    assert resumed["steps_this_session"] == 2
    a, b = killed / "checkpoint-6", clean / "checkpoint-6"
    for part in ("modules/G", "modules/D", "emas/G"):
        assert _same_tensors(load_file(str(a / part / "model.safetensors")), load_file(str(b / part / "model.safetensors"))), part
    for part in ("optimizers/G.pt", "optimizers/D.pt", "schedulers/G.pt", "schedulers/D.pt"):
        assert _same_state(torch.load(a / part, weights_only=True), torch.load(b / part, weights_only=True)), part
    assert _same_tensors(load_file(str(killed / "final" / "G.safetensors")), load_file(str(clean / "final" / "G.safetensors")))
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (killed / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_loop_refusals(tmp_path):
    gan = tmp_path / "gan"
    toy_gan.run(gan, 1, 1)
    with pytest.raises(ConfigError) as err:  # another recipe's run folder
        standins.run(gan, 2, 1, resume=True)
    assert "toy-gan" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="hidden"):  # a recipe's math option is kept on resume
        from humanmv.train.loop import run_training

        run_training("toy-gan", *toy_gan.tiny_config(gan, 2, 1, hidden=8), resume=True, given={"hidden"})
    more = toy_gan.run(gan, 2, 1, resume=True, kill_at=99)  # a run option may change
    assert more["steps_this_session"] == 1 and more["options"]["kill_at"] == 99
    with pytest.raises(TypeError):
        from humanmv.train.loop import run_training

        run_training("toy-gan", toy_gan.tiny_config(tmp_path / "x", 1, 1)[0], standins.tiny_config(tmp_path / "x", 1)[1])
    assert not (tmp_path / "x").exists()
