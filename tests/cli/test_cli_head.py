"""`humanmv generate` in head mode end to end: views framed on the head, the auto choice of
head or body, and generators that make no heads refused before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
FACE_CROP = (slice(40, 330), slice(100, 410))  # grace_hopper.jpg cut down to the face


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def face_only(tmp_path_factory, examples_dir) -> Path:
    photo = np.asarray(Image.open(examples_dir / "grace_hopper.jpg"))
    path = tmp_path_factory.mktemp("face") / "face_only.png"
    Image.fromarray(photo[FACE_CROP]).save(path)
    return path


@pytest.fixture(scope="module")
def head(tmp_path_factory, examples_dir) -> Path:
    out = tmp_path_factory.mktemp("head") / "grace"
    proc = run("generate", str(examples_dir / "grace_hopper.jpg"), "--out", str(out), "--mode", "head",
               "--views", "6", "--size", "96", "--texture-size", "256")
    assert proc.returncode == 0, proc.stderr
    return out


def _mask_box_share(mask: np.ndarray) -> float:
    """The share of the view covered by the mask's bounding box."""
    ys, xs = np.nonzero(mask)
    return (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) / mask.size


def test_head_mode_frames_a_portrait_all_round(head, body, renderer):
    from humanmv.cameras import Cameras
    from humanmv.io.glb import load_glb_mesh
    from humanmv.recon import read_avatar_json, rebuild_vertices

    run_info = json.loads((head / "run.json").read_text())
    assert (run_info["mode"], run_info["generator"], run_info["views"], run_info["size"]) == (
        "head", "prior", 6, [96, 96])
    avatar = read_avatar_json(head / "avatar.json")
    assert avatar["mode"] == "head"
    fit = json.loads((head / "fit.json").read_text())
    assert fit["mode"] == "head" and fit["metrics"]["landmark_error_face_box"] < 0.05
    cams = Cameras.load(head / "cameras.json")
    assert np.allclose(cams.az.numpy(), [0, 60, 120, 180, 240, 300])
    masks = np.stack([np.asarray(Image.open(head / "masks" / f"{n}.png")) > 0 for n in cams.names])
    views = np.stack([np.asarray(Image.open(head / "views" / f"{n}.png")) for n in cams.names])
    assert views.shape == (6, 96, 96, 4) and np.array_equal(views[..., 3] > 0, masks)
    # Every view is avatar.glb seen by its own camera.
    rendered = renderer.render(load_glb_mesh(head / "avatar.glb").to_render_mesh(), cams, outputs=("mask",))
    assert ((rendered.mask.numpy() > 0.5) == masks).mean(axis=(1, 2)).min() > 0.99
    # Framed as a portrait: the person fills most of each view (a body view leaves ~70% of its
    # mask's box empty); the whole head is inside it, in the upper half, a third of the view
    # high or more but not a close-up; the neck is in view and the shoulders run off the bottom.
    head_points = rebuild_vertices(body, avatar)[body.head_vertex_mask()]
    pixels, depth = cams.project(head_points)
    centre = (head_points.min(0).values + head_points.max(0).values) / 2
    middle, _ = cams.project(centre[None])
    for i in range(len(cams)):
        assert masks[i].mean() > 0.2 and _mask_box_share(masks[i]) > 0.4, (i, masks[i].mean())
        assert not masks[i][0].any() and masks[i][-1].any(), i  # head top inside, shoulders below
        assert (depth[i] > 0).all() and (pixels[i] >= 0).all() and (pixels[i] < 96).all(), i
        span = pixels[i].max(0).values - pixels[i].min(0).values
        assert 0.25 * 96 < span[1] < 0.6 * 96 and span[0] > 0.15 * 96, (i, span)
        assert middle[i, 0, 1] < 48 and (middle[i, 0, 0] - 48).abs() < 0.15 * 96, (i, middle[i])


def test_auto_mode_picks_head_for_a_face_and_body_for_a_person(face_only, tmp_path, examples_dir):
    from humanmv.io.images import load_image
    from humanmv.perception import Perceiver
    from humanmv.pipelines.checks import perception_options
    from humanmv.pipelines.fitting import choose_mode

    # The choice itself, on what the CLI perceives in auto mode: a face crop has no torso.
    perceiver = Perceiver()
    for path, mode in ((face_only, "head"), (examples_dir / "astronaut.jpg", "body")):
        photo = load_image(path)
        assert choose_mode(perceiver.perceive(photo.rgb, **perception_options("auto", photo.path.name))) == mode
    # And end to end: `--mode auto` on the crop makes a head generation.
    out = tmp_path / "auto"
    proc = run("generate", str(face_only), "--out", str(out), "--mode", "auto", "--views", "4", "--size", "64",
               "--texture-size", "256")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["mode"] == "head"
    assert json.loads((out / "avatar.json").read_text())["mode"] == "head"
    assert json.loads((out / "fit.json").read_text())["mode"] == "head"
    for i in range(4):
        mask = np.asarray(Image.open(out / "masks" / f"{i:03d}.png")) > 0
        # A portrait: the head inside at the top, the shoulders run off the bottom.
        assert mask.shape == (64, 64) and mask.mean() > 0.15 and not mask[0].any() and mask[-1].any(), i


def test_generator_without_heads_is_refused_in_head_mode(tmp_path, examples_dir):
    from humanmv.generators.registry import generator_spec

    out = tmp_path / "out"
    proc = run("generate", str(examples_dir / "grace_hopper.jpg"), "--out", str(out), "--mode", "head",
               "--generator", "mvdiff", "--views", "4", "--size", "64", "--texture-size", "256")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = lines[0]
    assert line.startswith("humanmv: error: --generator mvdiff") and "not heads" in line, line
    listed = [n.strip() for n in line.split("generators for heads:")[1].split(";")[0].split(",")]
    assert listed == ["prior", "head360"] and line.endswith("for mvdiff pass --mode body"), line
    assert all("head" in generator_spec(name).modes for name in listed)
    assert "head" not in generator_spec("mvdiff").modes
    assert not out.exists() and not list(tmp_path.iterdir())  # no temporary folder left either
