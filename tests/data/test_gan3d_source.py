"""`synth --source gan3d`: the engine's bodies and cameras with the GAN's colours, the mesh's
ground truth, the same bytes for the same seed, and one-line refusals before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from humanmv.data.engine import Preset, get_preset
from humanmv.data.gan3d_source import GAN3DSubjectRenderer, check_gan3d_preset, mask_iou
from humanmv.data.synth import SynthSource, synthesize
from humanmv.errors import CheckpointError, ConfigError

TINY = Preset("tiny", "body", (0.0, 90.0, 180.0), (0.0, 0.0, 0.0), 64)
HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
MVDIFF = Path(__file__).resolve().parents[2] / "src" / "humanmv" / "weights" / "mvdiff-small"


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    from humanmv.models.gan3d import GAN3DGenerator, get_gan3d_config

    torch.manual_seed(0)
    generator = GAN3DGenerator(get_gan3d_config("tiny")).eval()
    folder = generator.save_pretrained(tmp_path_factory.mktemp("g") / "tiny")
    return generator, folder


def test_views_are_the_engines_bodies_and_cameras_in_the_gans_colours(body, renderer, sample_subject,
                                                                      subject_renderer, tiny_gan, one_torch_thread):
    generator, folder = tiny_gan
    spec = sample_subject(11)
    engine = subject_renderer(spec, TINY)
    drawn = GAN3DSubjectRenderer(body, renderer, generator, 0.7, folder)(spec, TINY)
    assert drawn.cameras.names == engine.cameras.names == ["000", "001", "002", "input"]
    assert torch.equal(drawn.cameras.world_to_cam, engine.cameras.world_to_cam)
    assert torch.equal(drawn.cameras.K, engine.cameras.K)
    # The ground truth is the bare mesh's: the engine's wherever no garment covers the body.
    assert spec.outfit is None
    for layer in ("mask", "depth", "labels"):
        assert torch.equal(getattr(drawn, layer), getattr(engine, layer)), layer
    assert torch.allclose(drawn.normal, engine.normal)
    inside = drawn.mask > 0.5
    assert (drawn.rgb[~inside] == 0).all()
    assert not torch.allclose(drawn.rgb[inside], engine.rgb[inside], atol=0.05)  # not the engine's paint
    meta = drawn.meta
    assert "appearance" not in meta and meta["body"] == engine.meta["body"]
    assert meta["source"]["name"] == "gan3d" and meta["source"]["z_seed"] == spec.seed
    assert len(meta["source"]["mask_iou"]) == 4 and all(0 <= v <= 1 for v in meta["source"]["mask_iou"])


def test_mask_iou():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2], b[0, 1:3] = True, True
    assert mask_iou(a, b).tolist() == [pytest.approx(1 / 3), 1.0]


def test_synthesize_writes_the_same_bytes_and_records_the_source(tmp_path, tiny_gan, monkeypatch, one_torch_thread):
    from humanmv.data import engine

    monkeypatch.setitem(engine.PRESETS, "tiny", TINY)
    _, folder = tiny_gan
    source = SynthSource("gan3d", str(folder), 0.5)
    for name in ("a", "b"):
        assert synthesize(tmp_path / name, "tiny", 1, seed=3, source=source) == {"written": 1, "skipped": 0}
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert Path("subjects/000000/rgb/000.png") in files
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["source"] == {"name": "gan3d", "checkpoint": str(folder), "truncation": 0.5}
    with pytest.raises(Exception, match="from gan3d; choose another --out"):
        synthesize(tmp_path / "a", "tiny", 1, seed=3)  # the engine's colours into a gan3d folder


def test_presets_and_options_it_cannot_draw_are_refused(tiny_gan, tmp_path):
    _, folder = tiny_gan
    for name in ("head-train", "body-train-clothed"):
        with pytest.raises(ConfigError, match="--preset .*choose body-train or body-bench"):
            check_gan3d_preset(get_preset(name))
    check_gan3d_preset(get_preset("body-bench"))
    with pytest.raises(ConfigError, match="--truncation must be within"):
        synthesize(tmp_path / "t", "body-bench", 1, source=SynthSource("gan3d", str(folder), 1.5))
    with pytest.raises(ConfigError, match="unknown --source 'paint'"):
        synthesize(tmp_path / "t", "body-bench", 1, source=SynthSource("paint"))
    with pytest.raises(ConfigError, match="--checkpoint is for --source gan3d"):
        synthesize(tmp_path / "t", "body-bench", 1, source=SynthSource("engine", str(folder)))
    with pytest.raises(CheckpointError, match="not a 3DHumanGAN generator checkpoint"):
        synthesize(tmp_path / "t", "body-bench", 1, source=SynthSource("gan3d", str(MVDIFF)))
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("args, message", [
    (["--preset", "head-bench"], "--source gan3d draws whole bodies"),
    (["--checkpoint", str(MVDIFF)], "not a 3DHumanGAN generator checkpoint"),
])
def test_cli_refusals_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "ds"
    result = subprocess.run([*HUMANMV, "synth", "--source", "gan3d", "--subjects", "1", "--out", str(out), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()
