"""The "gan3d" generator: inverting a tiny random 3DHumanGAN to a real photo lowers its loss and
is reported in run.json, pivotal tuning leaves the loaded model as it was, the views are drawn
where the fitted body is, and a checkpoint of another model is a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
MVDIFF = Path(__file__).resolve().parents[2] / "src" / "humanmv" / "weights" / "mvdiff-small"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from humanmv.models.gan3d import GAN3DGenerator, get_gan3d_config

    torch.manual_seed(0)
    return GAN3DGenerator(get_gan3d_config("tiny")).save_pretrained(tmp_path_factory.mktemp("g") / "tiny")


@pytest.fixture(scope="module")
def studio():
    from humanmv.studio import Studio

    return Studio(texture_size=128)


@pytest.fixture(scope="module")
def photo(studio, examples_dir):
    from humanmv.io.images import load_image

    image = load_image(examples_dir / "astronaut.jpg")
    return image, studio.fitter(image, mode="body")


def test_inversion_fits_the_photo_and_keeps_the_model(studio, photo, tiny_checkpoint):
    from humanmv.generators import GeneratorChoice

    image, photo_fit = photo
    choice = GeneratorChoice.make("gan3d", {"steps": 30, "finetune_steps": 20, "lr": 0.1, "finetune_lr": 3e-3},
                                  checkpoint=tiny_checkpoint, reconstruct="none")
    network = studio.load(choice).generator.network
    before = {k: v.clone() for k, v in network.state_dict().items()}
    result = studio.generate(image, choice, views=4, size=96, photo_fit=photo_fit)
    report = result.notes["inversion"]
    assert report["loss_end"] < 0.9 * report["loss_start"], report
    assert report["photo_psnr_in_mask_db"] > 5 and (report["steps"], report["finetune_steps"]) == (30, 20)
    assert all(torch.equal(v, before[k]) for k, v in network.state_dict().items())  # tuned on a copy
    v = result.views
    assert v.rgb.shape == (4, 96, 96, 3) and v.mask.shape == (4, 96, 96)
    prior = studio.renderer.render(result.subject.avatar, v.cameras, outputs=("mask",)).mask > 0.5
    drawn = v.mask > 0.5
    # A random generator's mask is no silhouette, but it is drawn where the body is: the
    # portrait is resampled back onto the view around the fitted body.
    for i in range(4):
        assert drawn[i].any()
        ys, xs = torch.nonzero(drawn[i], as_tuple=True)
        py, px = torch.nonzero(prior[i], as_tuple=True)
        shift = torch.tensor([ys.float().mean() - py.float().mean(), xs.float().mean() - px.float().mean()])
        assert float(shift.abs().max()) < 0.15 * 96, (i, shift)


def test_generate_writes_the_inversion_report_and_refuses_other_checkpoints(tiny_checkpoint, examples_dir, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([*HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--generator", "gan3d",
                           "--checkpoint", str(tiny_checkpoint), "--opt", "gan3d.steps=5", "--views", "4",
                           "--size", "64", "--reconstruct", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["generator"] == "gan3d" and run["generator_notes"]["inversion"]["steps"] == 5
    bad = subprocess.run([*HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--generator", "gan3d",
                          "--checkpoint", str(MVDIFF), "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "not a 3DHumanGAN generator checkpoint (a mvdiff model)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
