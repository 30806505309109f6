"""`humanmv fit` end to end, as a user runs it: a new process, real files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _huge_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A tiny file whose PNG header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "notimage.jpg").write_bytes(b"this is not an image")
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "adir").mkdir()
    _huge_png(tmp / "huge.png")
    Image.fromarray(np.full((320, 320, 3), 190, np.uint8)).save(tmp / "blank.png")
    return {
        "missing": (tmp / "missing.jpg", "file not found"),
        "directory": (tmp / "adir", "is a directory"),
        "non-image": (tmp / "notimage.jpg", "is not an image"),
        "empty": (tmp / "empty.png", "is empty"),
        "huge": (tmp / "huge.png", "30000x30000"),
        "person-less": (tmp / "blank.png", "no person found"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "non-image", "empty", "huge", "person-less"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    path, expected = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    proc = run("fit", str(path), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("humanmv: error:") and expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp leftovers


def test_fit_writes_all_outputs_and_refuses_to_overwrite(tmp_path, examples_dir):
    out = tmp_path / "fit"
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--size", "128")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "fit.json").read_text())
    assert summary["mode"] == "body"
    assert summary["metrics"]["silhouette_iou"] > 0.6
    assert len(summary["camera"]["K"]) == 3 and len(summary["camera"]["world_to_camera"]) == 4
    assert set(summary["params"]) == {"pose_axis_angle", "phenotype", "expression"}
    overlay = np.asarray(Image.open(out / "overlay.png"))
    photo = np.asarray(Image.open(examples_dir / "astronaut.jpg"))
    assert overlay.shape == photo.shape and np.abs(overlay.astype(int) - photo).mean() > 2
    for view in ("front", "left", "back", "right"):
        normal = np.asarray(Image.open(out / "normals" / f"{view}.png"))
        assert normal.shape[:2] == (128, 128) and (normal.sum(-1) > 0).mean() > 0.05
    again = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_head_mode_on_a_portrait(tmp_path, examples_dir):
    out = tmp_path / "head"
    proc = run("fit", str(examples_dir / "grace_hopper.jpg"), "--out", str(out), "--mode", "head",
               "--size", "96")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "fit.json").read_text())
    assert summary["mode"] == "head"
    assert summary["metrics"]["landmark_error_face_box"] < 0.05


def test_usage_errors_exit_2(tmp_path, examples_dir):
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--mode", "legs")
    assert proc.returncode == 2 and "--mode must be auto, body or head" in proc.stderr
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--size", "7")
    assert proc.returncode == 2 and "--size" in proc.stderr
    proc = run("fit")  # click's own usage errors are one line too
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "humanmv: error: Missing argument 'image'. (see humanmv --help)"]
