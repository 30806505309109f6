"""`humanmv train pose-lifter`: writes its pose sets, learns, exports a loadable lifter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
HUMANMV = str(Path(sys.executable).parent / "humanmv")


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), CUDA_VISIBLE_DEVICES="")


def test_cli_trains_and_exports(tmp_path):
    data, out = tmp_path / "poses", tmp_path / "run"
    done = subprocess.run([HUMANMV, "train", "pose-lifter", "--data", str(data), "--out", str(out),
                           "--steps", "60", "--batch-size", "4", "--views", "8", "--width", "32", "--blocks", "1",
                           "--train-poses", "48", "--val-poses", "8", "--warmup-steps", "5", "--lr", "3e-3",
                           "--sample-every", "60", "--checkpoint-every", "60", "--log-every", "10", "--quiet"],
                          env=_env(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert (data / "train.npz").is_file() and (data / "val.npz").is_file()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["layout"] < log[0]["layout"]  # it learns
    assert (out / "samples" / "step-60.png").is_file()
    from humanmv.models.pose_lifter import PoseLifter

    model = PoseLifter.from_pretrained(out / "final")
    assert model.config.width == 32
    val = json.loads((out / "final" / "val.json").read_text())
    assert val["bodies"] == 8 and 0 < val["limb_depth_sine_error"] < 1
    assert model(torch.zeros(1, 23, 2), torch.ones(1, 23)).shape == (1, 23, 3)
    # the fit takes it instead of the shipped one
    fitted = tmp_path / "fit"
    done = subprocess.run([HUMANMV, "fit", str(ROOT / "examples" / "astronaut.jpg"), "--out", str(fitted),
                           "--size", "64", "--pose-lifter", str(out / "final"), "--quiet"],
                          env=_env(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads((fitted / "fit.json").read_text())["mode"] == "body"


def test_data_that_is_a_file_is_one_line(tmp_path):
    bad = tmp_path / "poses.npz"
    bad.write_text("x")
    done = subprocess.run([HUMANMV, "train", "pose-lifter", "--data", str(bad), "--out", str(tmp_path / "r")],
                          env=_env(), capture_output=True, timeout=120)
    assert done.returncode == 2
    err = done.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0], err
    assert not (tmp_path / "r").exists()


def test_a_folder_that_is_no_lifter_is_one_line(tmp_path):
    done = subprocess.run([HUMANMV, "fit", str(ROOT / "examples" / "astronaut.jpg"), "--out", str(tmp_path / "o"),
                           "--pose-lifter", str(tmp_path)], env=_env(), capture_output=True, timeout=120)
    err = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "not a pose lifter folder" in err[0], err
    assert not (tmp_path / "o").exists()
