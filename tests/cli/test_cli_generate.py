"""`humanmv generate` end to end: its outputs, and every bad input a user can give it."""

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


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, examples_dir) -> Path:
    out = tmp_path_factory.mktemp("gen") / "astronaut"
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--views", "6",
               "--size", "128", "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    return out


def test_generate_writes_every_output(generated):
    names = [f"{i:03d}" for i in range(6)]
    for folder in ("views", "normals", "masks"):
        assert sorted(p.stem for p in (generated / folder).glob("*.png")) == names
    view = np.asarray(Image.open(generated / "views" / "000.png"))
    assert view.shape == (128, 128, 4)
    alpha = view[..., 3] > 0
    assert 0.05 < alpha.mean() < 0.9
    mask = np.asarray(Image.open(generated / "masks" / "000.png")) > 0
    assert (mask == alpha).mean() > 0.99
    cams = json.loads((generated / "cameras.json").read_text())
    assert len(cams) == 6 and cams[0]["az"] == 0 and cams[3]["az"] == 180
    transforms = json.loads((generated / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == [f"views/{n}.png" for n in names]
    assert (generated / "avatar.glb").read_bytes()[:4] == b"glTF"
    assert json.loads((generated / "avatar.json").read_text())["mode"] == "body"
    assert (generated / "turntable.mp4").stat().st_size > 1000
    assert Image.open(generated / "grid.png").size[0] > 128
    run_info = json.loads((generated / "run.json").read_text())
    assert run_info["generator"] == "prior" and run_info["seed"] == 0 and run_info["reconstruct"] == "none"
    assert {"fit", "texture", "generate"} <= set(run_info["timings_s"])


def test_cameras_json_round_trips_through_generate(generated, tmp_path, examples_dir):
    from humanmv.cameras import Cameras

    cams = Cameras.load(generated / "cameras.json")[[0, 2]]
    cams.save(tmp_path / "two.json")
    out = tmp_path / "custom"
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(out),
               "--cameras", str(tmp_path / "two.json"), "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    again = Cameras.load(out / "cameras.json")
    assert again.names == ["000", "002"]
    assert np.allclose(again.world_to_cam.numpy(), cams.world_to_cam.numpy(), atol=1e-5)
    first = np.asarray(Image.open(out / "views" / "000.png")).astype(float)
    same = np.asarray(Image.open(generated / "views" / "000.png")).astype(float)
    assert np.abs(first - same).mean() < 2.0  # same seed, same camera, same pixels


def _bad_photos(tmp: Path, examples: Path) -> dict[str, Path]:
    (tmp / "bytes.jpg").write_bytes(b"\x00\x01not an image")
    (tmp / "zero.jpg").write_bytes(b"")
    (tmp / "dir.jpg").mkdir()
    data = (examples / "astronaut.jpg").read_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.new("RGB", (1, 1)).save(tmp / "one.png")
    Image.fromarray(np.full((300, 300, 3), 120, np.uint8)).save(tmp / "nobody.png")
    photo = np.asarray(Image.open(examples / "grace_hopper.jpg"))
    Image.fromarray(photo[40:330, 100:410]).save(tmp / "face_only.png")
    # A decompression bomb: the header claims 40000 x 40000 pixels.
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))  # noqa: E731
    (tmp / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return {p.stem: p for p in tmp.iterdir()}


BAD = {
    "missing": (["{tmp}/none.jpg"], "file not found"),
    "directory": (["{tmp}/dir.jpg"], "is a directory"),
    "non-image": (["{tmp}/bytes.jpg"], "is not an image"),
    "truncated": (["{tmp}/truncated.jpg"], "truncated"),
    "zero-bytes": (["{tmp}/zero.jpg"], "is empty"),
    "bomb": (["{tmp}/bomb.png"], "40000x40000"),
    "one-pixel": (["{tmp}/one.png"], "1x1"),
    "no-person": (["{tmp}/nobody.png"], "no person"),
    "face-only-in-body-mode": (["{tmp}/face_only.png", "--mode", "body"], "--mode head"),
    "views-0": (["{ex}/astronaut.jpg", "--views", "0"], "--views"),
    "views-10000": (["{ex}/astronaut.jpg", "--views", "10000"], "--views"),
    "size-7": (["{ex}/astronaut.jpg", "--size", "7"], "--size"),
    "bad-cameras": (["{ex}/astronaut.jpg", "--cameras", "{tmp}/bytes.jpg"], "not valid JSON"),
    "unknown-generator": (["{ex}/astronaut.jpg", "--generator", "magic"], "unknown --generator"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, examples_dir, case):
    _bad_photos(tmp_path, examples_dir)
    args, expected = BAD[case]
    args = [a.format(tmp=tmp_path, ex=examples_dir) for a in args]
    out = tmp_path / "out"
    proc = run("generate", args[0], "--out", str(out), *args[1:])
    assert proc.returncode == 2, (case, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], (case, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tmp*"))


def test_unwritable_and_existing_outputs(tmp_path, examples_dir):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(blocker / "sub"))
    assert proc.returncode == 2 and "choose another --out" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(existing))
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (existing / "keep.txt").read_text() == "mine"
