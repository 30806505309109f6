"""`humanmv bench` end to end on one synthetic subject (copy-input, whose every number is known:
it is computed here from the same files), the metric networks with random weights of the
published shapes, real photos, generator variants with a checkpoint, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, "bench", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def split(bench_split):
    return bench_split


@pytest.fixture(scope="module")
def subject(split):
    """The split's one subject as the bench sees it: the ground-truth views on white (C, 3, H, W),
    the input view on white as copy-input predicts every view, and its copy-input scores computed
    here with `eval.image_metrics`."""
    from humanmv.data.format import read_subject
    from humanmv.eval.image_metrics import mask_iou, psnr, ssim
    from humanmv.views import channels_first

    folders = list((split / "subjects").iterdir())
    assert len(folders) == 1
    gt = read_subject(folders[0], layers=("rgb", "mask"))
    C = len(gt.cameras) - 1
    target = channels_first(gt[list(range(C))].on_white())
    photo = channels_first(gt[[C]].on_white())
    copy = photo.expand(C, -1, -1, -1)
    return SimpleNamespace(name=folders[0].name, views=C, az=gt.cameras.az[:C].tolist(), target=target, photo=photo,
                           copy=copy, psnr=psnr(copy, target).tolist(), ssim=ssim(copy, target).tolist(),
                           iou=mask_iou(gt.mask[C:].expand(C, -1, -1), gt.mask[:C]).tolist())


def _close(got: list, want: list, tol: float = 1e-4) -> bool:
    return len(got) == len(want) and all(abs(g - w) <= tol * max(1.0, abs(w)) for g, w in zip(got, want))


def _ok(capsys, *args: str) -> None:
    """Run `humanmv bench ARGS` in this process; it must exit 0 and print no error."""
    from humanmv.cli import main

    with pytest.raises(SystemExit) as done:
        main(["bench", *args])
    err = capsys.readouterr().err
    assert done.value.code == 0 and "error" not in err, err


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
    (pytorch-fid layout; He-initialised convolutions, so its features tell images apart), CLIP
    ViT-B/32."""
    from humanmv.eval.clip import CLIPImageEncoder
    from humanmv.eval.inception import InceptionV3Features
    from humanmv.eval.lpips import LPIPS

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    lpips = LPIPS("alex")
    for head in lpips.heads():
        head.model[1].weight.data.abs_()
    save_file(lpips.state_dict(), folder / "lpips_alex.safetensors")
    inception = InceptionV3Features("fid")
    for module in inception.modules():  # He init keeps activations O(1) to pool3: features differ per image
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    inception = inception.state_dict()
    save_file({**inception, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)},
              folder / "pt_inception.safetensors")
    save_file(CLIPImageEncoder().state_dict(), folder / "clip_b32.safetensors")
    return folder


def test_bench_writes_results_and_refuses_bad_input(split, subject, tmp_path, capsys):
    # the subject marked "val": a *-bench dataset is benched whole by default, not only its test split
    whole = tmp_path / "whole"
    shutil.copytree(split, whole)
    manifest = json.loads((whole / "manifest.json").read_text())
    manifest["subjects"] = [{**e, "split": "val"} for e in manifest["subjects"]]
    (whole / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "res"
    _ok(capsys, "--split", str(whole), "--method", "copy-input", "--out", str(out), "--quiet")
    data = json.loads((out / "results.json").read_text())
    summary = data["summary"]["copy-input"]
    assert summary["subjects"] == 1 and summary["failed"] == 0 and summary["failures"] == []
    (row,) = data["subjects"]
    assert row["subject"] == subject.name and row["error"] is None and row["az"] == subject.az
    # copy-input's numbers are exactly the input view against each ground-truth view
    assert _close(row["psnr"], subject.psnr) and _close(row["ssim"], subject.ssim) and _close(row["iou"], subject.iou)
    assert all(8 < v < 40 for v in subject.psnr) and all(0 < v < 1 for v in subject.iou)  # views differ from the input
    psnr = summary["all"]["psnr"]
    assert psnr["mean"] == pytest.approx(np.mean(subject.psnr), abs=1e-4) and psnr["count"] == subject.views
    assert psnr["ci95"] is None and psnr["subjects"] == 1  # one subject: no interval
    assert summary["all"]["ssim"]["mean"] == pytest.approx(np.mean(subject.ssim), abs=1e-4)
    assert summary["all"]["iou"]["mean"] == pytest.approx(np.mean(subject.iou), abs=1e-4)
    assert summary["front"]["psnr"]["mean"] == psnr["mean"] and summary["back"]["views"] == 0  # a ring round the front
    assert "mean" not in summary["back"]["psnr"]  # no back view, no number
    assert len(row["face"]) == subject.views and row["lpips"] is None and row["clip"] is None
    assert len(row["st_lpips"]) == subject.views      # ST-LPIPS needs no flag: setup installed it
    md = (out / "results.md").read_text()
    assert "| copy-input |" in md and "unavailable: pass --lpips-weights" in md and "face views" in md
    assert "n/a (no depth)" in md
    assert (out / "comparison.png").stat().st_size > 1000
    broken = tmp_path / "broken"
    shutil.copytree(split, broken)
    next((broken / "subjects").iterdir()).joinpath("rgb", "022.png").unlink()
    (tmp_path / "junk.pth").write_bytes(b"not weights")
    for args, expected in (
        (["--split", str(tmp_path)], "no manifest.json"),
        (["--split", str(split), "--method", "magic"], "unknown --method 'magic'"),
        (["--split", str(broken)], "rgb/022.png: missing view file"),
        (["--split", str(split), "--lpips-weights", str(tmp_path / "absent.pth")], "--lpips-weights"),
        (["--split", str(split), "--inception-weights", str(tmp_path / "junk.pth")], "--inception-weights"),
        (["--split", str(split), "--real", str(tmp_path)], "either --split"),
        (["--split", str(split), "--mode", "sideways"], "--mode must be auto, body or head"),
        (["--split", str(split), "--method", "head360", "--mode", "body"],
         "--generator head360 makes heads, not bodies (--mode body)"),
    ):
        assert expected in _fails(capsys, *args, "--out", str(tmp_path / "x")), args
        assert not (tmp_path / "x").exists()


def test_wrong_shapes_name_the_flag_and_the_file(split, tmp_path, capsys):
    bad = tmp_path / "clip_small.safetensors"
    save_file({"visual.conv1.weight": torch.zeros(8, 3, 32, 32)}, bad)
    err = _fails(capsys, "--split", str(split), "--clip-weights", str(bad), "--out", str(tmp_path / "x"))
    assert "--clip-weights" in err and "clip_small.safetensors" in err
    assert not (tmp_path / "x").exists()


def test_metric_networks_from_weight_files(split, subject, weights, tmp_path):
    """LPIPS, FID/KID and CLIP from the given files, in a real process: each equals the same
    network computed here on the same images."""
    from humanmv.eval.clip import load_clip
    from humanmv.eval.fid import kid
    from humanmv.eval.inception import inception_features, load_inception
    from humanmv.eval.lpips import load_lpips, lpips_distance
    from humanmv.eval.nets import clip_to_reference

    out = tmp_path / "res"
    proc = _run("--split", str(split), "--method", "copy-input", "--out", str(out), "--quiet",
                "--lpips-weights", str(weights / "lpips_alex.safetensors"),
                "--inception-weights", str(weights / "pt_inception.safetensors"),
                "--clip-weights", str(weights / "clip_b32.safetensors"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    s = data["summary"]["copy-input"]
    assert s["subjects"] == 1 and s["failed"] == 0
    (row,) = data["subjects"]
    n = subject.views
    lpips = lpips_distance(load_lpips(weights / "lpips_alex.safetensors"), subject.copy, subject.target).tolist()
    assert all(v > 0 for v in lpips) and _close(row["lpips"], lpips)  # the input is not the other views
    assert s["all"]["lpips"]["count"] == n and s["front"]["lpips"]["count"] == n
    assert s["all"]["lpips"]["mean"] == pytest.approx(np.mean(lpips), abs=1e-4)
    from humanmv.eval.stlpips_weights import load_stlpips

    st_lpips = lpips_distance(load_stlpips("alex"), subject.copy, subject.target).tolist()  # always on
    assert all(v > 0 for v in st_lpips) and _close(row["st_lpips"], st_lpips)
    assert s["front"]["st_lpips"]["mean"] == pytest.approx(np.mean(st_lpips), abs=1e-4)
    inception = load_inception(weights / "pt_inception.safetensors")
    pred = inception_features(inception, subject.copy).double().numpy()
    real = inception_features(inception, subject.target).double().numpy()
    # copy-input's views are one image n times: no spread, so FID = |mu_pred - mu_real|^2 + tr(cov_real)
    assert np.abs(pred - pred[0]).max() < 1e-9
    fid = float(np.sum((pred.mean(0) - real.mean(0)) ** 2) + np.trace(np.cov(real, rowvar=False)))
    kid_mean, kid_std = kid(pred, real, num_subsets=100, subset_size=n)
    assert fid > 1 and kid_mean > 1e-3  # the input against the other views: a real distance
    assert s["all"]["fid"]["count"] == n and s["all"]["fid"]["value"] == pytest.approx(fid, rel=1e-4)
    assert s["all"]["kid"]["count"] == n and s["all"]["kid"]["value"] == pytest.approx(kid_mean, rel=1e-4, abs=1e-6)
    assert s["all"]["kid"]["std"] == pytest.approx(kid_std, abs=1e-6)
    assert s["front"]["fid"] == s["all"]["fid"]  # every view is a front view
    clip = load_clip(weights / "clip_b32.safetensors")
    similarity = clip_to_reference(clip.encode(subject.copy), clip.encode(subject.photo))
    assert _close(row["clip"], similarity, 1e-5) and s["all"]["clip"]["count"] == n
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in row["clip"])  # every view is the input itself
    tables = (out / "results.md").read_text().split("###")
    line_of = lambda table: next(t for t in table.splitlines() if t.startswith("| copy-input |"))  # noqa: E731
    overall, front_back, identity = line_of(tables[1]), line_of(tables[2]), line_of(tables[3])
    assert "unavailable" not in overall + identity and f"| {np.mean(lpips):.3f} |" in overall
    cell = f"| {s['all']['st_lpips']['mean']:.3f} |"
    assert cell in overall and cell in front_back
    assert "unavailable" not in "|".join(front_back.split("|")[2:7])  # PSNR .. FID of the front views
    # a ring around the front has no back views: said as such, never as missing weights
    assert "unavailable" not in (out / "results.md").read_text()
    assert front_back.count("n/a (no views)") == 6 and s["back"]["lpips"]["short"] == "n/a (no views)"


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
    assert s["subjects"] == 2 and s["failed"] == 0 and s["failures"] == [] and data["mode"] == "real"
    assert sorted(r["subject"] for r in data["subjects"]) == ["astronaut.jpg", "grace_hopper.jpg"]
    for r in data["subjects"]:
        assert r["error"] is None, r["error"]
        assert len(r["face"]) == 8 and r["pck"] is not None and r["pck"]["total"] > 0, r["subject"]
        assert r["pair_psnr"] is not None and len(r["pair_psnr"]) == 8 and r["psnr"] == []
        # the prior renders its own avatar: nothing stands outside it; its parts keep the photo's hues
        assert r["outside_body"] is not None and r["outside_body"] < 0.01, r["subject"]
        assert r["hue_drift"] is not None and 0 <= r["hue_drift"]["mean"] < 20, r["subject"]
        assert "torso" in r["hue_drift"]["per_part"]
    assert s["hue_drift"]["subjects"] == 2 and s["outside_body"]["subjects"] == 2
    md = (out / "results.md").read_text()
    assert "success rate" in md and "PCK@0.1" in md and "n/a (no ground truth)" not in md.split("###")[1]
    assert "part hue drift" in md and "silhouette outside body" in md
    assert (out / "comparison.png").is_file()


def test_generator_variants_with_a_checkpoint(split, tmp_path, capsys):
    """--method mvdiff[checkpoint=DIR] scores the prior's views refined by a (random, tiny)
    mvdiff pipeline, next to its raw views (reconstruct=none); a broken checkpoint or an option
    of another generator is refused before any work."""
    from humanmv.models import MultiViewUNet, get_config
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny"
    MVDiffPipeline(MultiViewUNet(get_config("tiny"))).save_pretrained(ckpt)
    err = _fails(capsys, "--split", str(split), "--method", f"mvdiff[checkpoint={tmp_path / 'nope'}]",
                 "--out", str(tmp_path / "bad"))
    assert "nope: checkpoint folder not found" in err and not (tmp_path / "bad").exists()
    err = _fails(capsys, "--split", str(split), "--method", f"prior[checkpoint={ckpt}]", "--out", str(tmp_path / "bad"))
    assert "--generator prior takes no checkpoint" in err
    (tmp_path / "empty").mkdir()
    err = _fails(capsys, "--split", str(split), "--method", f"mvdiff[checkpoint={tmp_path / 'empty'}]",
                 "--out", str(tmp_path / "bad"))
    assert "empty" in err and not (tmp_path / "bad").exists()
    fused, raw = f"mvdiff[checkpoint={ckpt},steps=2]", f"mvdiff[checkpoint={ckpt},steps=2,reconstruct=none]"
    done = _run("--split", str(split), "--method", "prior", "--method", fused, "--method", raw,
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
