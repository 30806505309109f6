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
import torch
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


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, examples_dir) -> Path:
    """`humanmv fit` on the bundled astronaut photo, once for this module."""
    out = tmp_path_factory.mktemp("fit") / "fit"
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--size", "128")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def fitted_body(fitted, body):
    """The body fit.json describes, its vertices and the photo camera."""
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import Cameras

    summary = json.loads((fitted / "fit.json").read_text())
    params = BodyParams.from_dict(summary["params"], body.expression_names)
    with torch.no_grad():
        vertices = body(params).vertices[0]
    return summary, vertices, Cameras.from_json([summary["camera"]])


def _normal_map(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(inside (H, W) bool, decoded normals (H, W, 3)) of a fit normal map (background 0)."""
    image = np.asarray(Image.open(path)).astype(np.float32) / 255
    return image.max(-1) > 0, 2 * image - 1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_fit_writes_all_outputs_and_refuses_to_overwrite(fitted, examples_dir):
    out = fitted
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
        assert normal.shape == (128, 128, 3) and (normal.sum(-1) > 0).mean() > 0.05
    again = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert json.loads((out / "fit.json").read_text()) == summary  # left as it was


def test_overlay_changes_the_photo_exactly_where_the_fit_covers_it(fitted, fitted_body, body, renderer,
                                                                   examples_dir):
    summary, vertices, camera = fitted_body
    covered = renderer.render(body.mesh(vertices), camera, outputs=("mask",)).mask[0].numpy() > 0.5
    photo = np.asarray(Image.open(examples_dir / "astronaut.jpg")).astype(int)
    overlay = np.asarray(Image.open(fitted / "overlay.png")).astype(int)
    changed = np.abs(overlay - photo).max(-1) > 0
    assert 0.1 < covered.mean() < 0.9
    assert (~changed[~covered]).mean() > 0.999  # the photo itself where the mesh is not
    assert changed[covered].mean() > 0.99  # tinted wherever it is
    assert _iou(changed, covered) > 0.99
    # the tint is bluish: blue gains on red where the mesh covers the photo
    tint = (overlay - photo)[covered]
    assert (tint[:, 2] - tint[:, 0]).mean() > 5


def test_normal_maps_are_the_fit_seen_from_four_sides(fitted, fitted_body, body, renderer):
    from humanmv.cameras import Cameras

    summary, vertices, _ = fitted_body
    cams = Cameras.from_json(summary["normal_cameras"])
    assert cams.names == ["front", "left", "back", "right"]
    assert np.allclose(cams.az.numpy(), [0, 90, 180, 270])
    centre = ((vertices.min(0).values + vertices.max(0).values) / 2).numpy()
    seen_from = cams.centers.numpy() - centre  # where each camera stands, round the body
    az = np.degrees(np.arctan2(seen_from[:, 0], seen_from[:, 2]))
    assert np.abs((az - [0, 90, 180, 270] + 180) % 360 - 180).max() < 1, az
    render = renderer.render(body.mesh(vertices), cams, outputs=("mask", "normal"))
    silhouettes = {}
    for i, name in enumerate(cams.names):
        inside, n = _normal_map(fitted / "normals" / f"{name}.png")
        silhouettes[name] = inside
        length = np.linalg.norm(n[inside], axis=1)
        assert np.abs(length - 1).max() < 0.02, (name, length.min(), length.max())
        assert (n[inside][:, 2] < 0).mean() > 0.98 and n[inside][:, 2].mean() < -0.5, name  # facing the camera
        assert (inside == (render.mask[i].numpy() > 0.5)).mean() > 0.99, name
        cos = (n[inside] / np.linalg.norm(n[inside], axis=1, keepdims=True) * render.normal[i].numpy()[inside]).sum(1)
        assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 1.0, name
    # opposite views see mirrored silhouettes; neighbouring views do not
    mirror = lambda a, b: _iou(silhouettes[a], silhouettes[b][:, ::-1])  # noqa: E731
    assert mirror("left", "right") > 0.75 and mirror("front", "back") > 0.85
    assert mirror("left", "right") > _iou(silhouettes["left"], silhouettes["right"]) + 0.1
    assert mirror("front", "back") > _iou(silhouettes["front"], silhouettes["back"]) + 0.3
    assert max(mirror("front", "left"), mirror("front", "right"), mirror("back", "left")) < 0.6


def test_head_mode_on_a_portrait(tmp_path, examples_dir):
    out = tmp_path / "head"
    proc = run("fit", str(examples_dir / "grace_hopper.jpg"), "--out", str(out), "--mode", "head",
               "--size", "96")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "fit.json").read_text())
    assert summary["mode"] == "head"
    assert summary["metrics"]["landmark_error_face_box"] < 0.05
    for view in ("front", "left", "back", "right"):  # the head seen from four sides, filling each view
        inside, n = _normal_map(out / "normals" / f"{view}.png")
        ys, xs = np.nonzero(inside)
        assert inside.shape == (96, 96) and inside.mean() > 0.3, (view, inside.mean())
        assert (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) > 0.5 * inside.size, view
        assert not inside[0].any(), view  # the top of the head is in the view
        assert np.abs(np.linalg.norm(n[inside], axis=1) - 1).max() < 0.02 and (n[inside][:, 2] < 0).mean() > 0.98


def test_usage_errors_exit_2(tmp_path, examples_dir):
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--mode", "legs")
    assert proc.returncode == 2 and "--mode must be auto, body or head" in proc.stderr
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--size", "7")
    assert proc.returncode == 2 and "--size" in proc.stderr
    proc = run("fit")  # click's own usage errors are one line too
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "humanmv: error: Missing argument 'image'. (see humanmv --help)"]
