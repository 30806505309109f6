"""`humanmv bench` end to end: a tiny synthetic split (copy-input, to stay fast), the metric
networks with random weights of the published shapes, real photos, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from humanmv.data.synth import synthesize

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, "bench", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "ds"
    synthesize(out, "body-bench", 2, seed=4)
    return out


@pytest.fixture(scope="module")
def small_split(split):
    """The same subjects cut down to 4 views (+ the input), for the slower metric networks."""
    from humanmv.data.format import read_subject, write_subject

    out = split.parent / "small"
    for folder in (split / "subjects").iterdir():
        write_subject(out / "subjects" / folder.name, read_subject(folder, views=[0, 6, 12, 18, 24]))
    shutil.copy(split / "manifest.json", out / "manifest.json")
    return out


def _fails(capsys, *args: str) -> str:
    """Run `humanmv bench ARGS` in this process; it must exit 2 with one line on stderr."""
    from humanmv.cli import main

    with pytest.raises(SystemExit) as done:
        main(["bench", *args])
    err = capsys.readouterr().err
    assert done.value.code == 2 and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random weights of the real shapes: LPIPS (AlexNet, one combined file), Inception-v3
    (pytorch-fid layout), CLIP ViT-B/32."""
    from humanmv.eval.clip import CLIPImageEncoder
    from humanmv.eval.inception import InceptionV3Features
    from humanmv.eval.lpips import LPIPS

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    lpips = LPIPS("alex")
    for head in lpips.heads():
        head.model[1].weight.data.abs_()
    save_file(lpips.state_dict(), folder / "lpips_alex.safetensors")
    inception = InceptionV3Features("fid").state_dict()
    save_file({**inception, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)},
              folder / "pt_inception.safetensors")
    save_file(CLIPImageEncoder().state_dict(), folder / "clip_b32.safetensors")
    return folder


def test_bench_writes_results_and_refuses_bad_input(split, tmp_path, capsys):
    out = tmp_path / "res"
    proc = _run("--split", str(split), "--method", "copy-input", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    summary = data["summary"]["copy-input"]
    assert summary["subjects"] == 2, "a *-bench dataset is benched whole by default"
    assert 5 < summary["all"]["psnr"]["mean"] < 40 and summary["all"]["psnr"]["ci95"] is not None
    assert len(data["subjects"][0]["psnr"]) == 24 and len(data["subjects"][0]["face"]) == 24
    md = (out / "results.md").read_text()
    assert "| copy-input |" in md and "unavailable: pass --lpips-weights" in md and "face views" in md
    assert "n/a (no depth)" in md
    assert (out / "comparison.png").stat().st_size > 1000
    broken = tmp_path / "broken"
    shutil.copytree(split, broken)
    next((broken / "subjects").iterdir()).joinpath("rgb", "005.png").unlink()
    (tmp_path / "junk.pth").write_bytes(b"not weights")
    for args, expected in (
        (["--split", str(tmp_path)], "no manifest.json"),
        (["--split", str(split), "--method", "magic"], "unknown --method 'magic'"),
        (["--split", str(broken)], "missing view file"),
        (["--split", str(split), "--lpips-weights", str(tmp_path / "absent.pth")], "--lpips-weights"),
        (["--split", str(split), "--inception-weights", str(tmp_path / "junk.pth")], "--inception-weights"),
        (["--split", str(split), "--real", str(tmp_path)], "either --split"),
    ):
        assert expected in _fails(capsys, *args, "--out", str(tmp_path / "x")), args
        assert not (tmp_path / "x").exists()


def test_wrong_shapes_name_the_flag_and_the_file(split, tmp_path, capsys):
    bad = tmp_path / "clip_small.safetensors"
    save_file({"visual.conv1.weight": torch.zeros(8, 3, 32, 32)}, bad)
    err = _fails(capsys, "--split", str(split), "--clip-weights", str(bad), "--out", str(tmp_path / "x"))
    assert "--clip-weights" in err and "clip_small.safetensors" in err
    assert not (tmp_path / "x").exists()


def test_metric_networks_from_weight_files(small_split, weights, tmp_path):
    out = tmp_path / "res"
    proc = _run("--split", str(small_split), "--subjects", "1", "--method", "copy-input", "--out", str(out), "--quiet",
                "--lpips-weights", str(weights / "lpips_alex.safetensors"),
                "--inception-weights", str(weights / "pt_inception.safetensors"),
                "--clip-weights", str(weights / "clip_b32.safetensors"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    s = data["summary"]["copy-input"]
    assert s["all"]["lpips"]["count"] == 4 and s["front"]["lpips"]["count"] == 3  # az 0, 90, 270
    assert s["all"]["fid"]["count"] == 4 and isinstance(s["all"]["fid"]["value"], float)
    assert isinstance(s["all"]["kid"]["value"], float)
    assert s["all"]["clip"]["count"] == 4 and -1 <= s["all"]["clip"]["mean"] <= 1
    assert len(data["subjects"][0]["lpips"]) == 4
    md = (out / "results.md").read_text()
    assert "unavailable" not in md


def test_real_photos(examples_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        shutil.copy(examples_dir / name, photos / name)
    out = tmp_path / "res"
    proc = _run("--real", str(photos), "--method", "prior", "--views", "8", "--out", str(out), "--quiet",
                timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    s = data["summary"]["prior"]
    assert s["subjects"] + s["failed"] == 2 and data["mode"] == "real"
    for r in data["subjects"]:
        assert r["error"] or (len(r["face"]) == 8 and r["pck"] is not None and r["pair_psnr"] is not None)
    md = (out / "results.md").read_text()
    assert "success rate" in md and "PCK@0.1" in md and "n/a (no ground truth)" not in md.split("###")[1]
    assert (out / "comparison.png").is_file()


def test_generator_variants_with_a_checkpoint(small_split, tmp_path, capsys):
    """--method mvdiff[checkpoint=DIR] scores the prior's views refined by a (random, tiny)
    mvdiff pipeline, next to its raw views (reconstruct=none); a broken checkpoint or an option
    of another generator is refused before any work."""
    from humanmv.models import MultiViewUNet, get_config
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny"
    MVDiffPipeline(MultiViewUNet(get_config("tiny"))).save_pretrained(ckpt)
    err = _fails(capsys, "--split", str(small_split), "--method", f"mvdiff[checkpoint={tmp_path / 'nope'}]",
                 "--out", str(tmp_path / "bad"))
    assert "nope: checkpoint folder not found" in err and not (tmp_path / "bad").exists()
    err = _fails(capsys, "--split", str(small_split), "--method", f"prior[checkpoint={ckpt}]", "--out", str(tmp_path / "bad"))
    assert "--generator prior takes no checkpoint" in err
    (tmp_path / "empty").mkdir()
    err = _fails(capsys, "--split", str(small_split), "--method", f"mvdiff[checkpoint={tmp_path / 'empty'}]",
                 "--out", str(tmp_path / "bad"))
    assert "empty" in err and not (tmp_path / "bad").exists()
    fused, raw = f"mvdiff[checkpoint={ckpt},steps=2]", f"mvdiff[checkpoint={ckpt},steps=2,reconstruct=none]"
    done = _run("--split", str(small_split), "--method", "prior", "--method", fused, "--method", raw,
                "--subjects", "1", "--out", str(tmp_path / "res"))
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "res" / "results.json").read_text())
    summary = data["summary"]
    for method in ("prior", fused, raw):
        assert summary[method]["subjects"] == 1 and summary[method]["failed"] == 0, method
    settings = data["run"]["method_settings"]
    assert settings[raw]["reconstruct"] == "none" and settings[fused]["reconstruct"] == "refit"
    assert settings[fused]["checkpoint"] == str(ckpt) and settings[fused]["options"]["steps"] == 2
    # the fused views agree with each other through the refitted avatar's depth; the raw ones less
    fused_psnr = summary[fused]["consistency"]["reprojection_psnr"]["mean"]
    raw_psnr = summary[raw]["consistency"]["reprojection_psnr"]["mean"]
    assert fused_psnr > raw_psnr + 3, (fused_psnr, raw_psnr)
    assert fused in (tmp_path / "res" / "results.md").read_text()
