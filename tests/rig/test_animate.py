"""`humanmv animate` and render_animation: the video holds the rig playing the clip (each frame the
renderer's picture of our skinning of that time), from the front or all round; every mistake is
one line and writes nothing; and `generate --no-rig` writes the static avatar animate refuses."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


@pytest.fixture(scope="module")
def rig_file(rig, tmp_path_factory):
    from humanmv.rig import save_rigged_glb

    return save_rigged_glb(tmp_path_factory.mktemp("animate") / "avatar.glb", rig)


def test_frames_are_the_renderer_drawing_our_skinning(rig, renderer):
    from humanmv.rig import animate_vertices
    from humanmv.rig.animate import AnimationConfig, animation_cameras, render_animation

    config = AnimationConfig(seconds=1.0, fps=10, size=96)
    frames = render_animation(rig, rig.clips["walk"], renderer, config)
    assert frames.shape == (10, 96, 96, 3) and frames.dtype == np.uint8
    times = torch.arange(10, dtype=torch.float64) / 10
    verts = animate_vertices(rig, rig.clips["walk"], times)
    cams = animation_cameras(verts.reshape(-1, 3), config)
    for i in (0, 3, 9):  # frames from different batches of the side-by-side drawing
        alone = renderer.render(rig.mesh(verts[i]), cams[i], outputs=("mask", "rgb"))
        expected = torch.where(alone.mask[0, ..., None] > 0.5, alone.rgb[0], 1.0)
        assert np.abs(frames[i] / 255.0 - expected.numpy()).max() < 1.5 / 255, i
    person = (frames < 250).any(-1)
    assert 0.05 < person[0].mean() < 0.6 and not person[:, 0].any() and not person[:, -1].any()  # framed
    assert np.abs(frames[0].astype(int) - frames[5]).mean() > 1  # the legs moved


def test_orbit_goes_round_the_avatar(rig, renderer):
    from humanmv.rig.animate import AnimationConfig, render_animation

    still = render_animation(rig, rig.clips["photo"], renderer, AnimationConfig(seconds=1, fps=4, size=64))
    orbit = render_animation(rig, rig.clips["photo"], renderer, AnimationConfig(seconds=1, fps=4, size=64, camera="orbit"))
    assert np.array_equal(still[0], orbit[0]) and np.array_equal(still[0], still[2])  # the photo pose holds still
    assert np.abs(orbit[2].astype(int) - orbit[0]).mean() > 2  # from behind


def test_animate_writes_the_clip_as_video(rig_file, rig, renderer, tmp_path):
    import imageio.v3 as iio

    from humanmv.rig.animate import AnimationConfig, render_animation

    out = tmp_path / "wave.mp4"
    proc = subprocess.run([*HUMANMV, "animate", str(rig_file), "--motion", "wave", "--out", str(out),
                           "--seconds", "1", "--fps", "8", "--size", "128", "--camera", "orbit"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "8 frames of wave" in proc.stdout and sorted(p.name for p in tmp_path.iterdir()) == ["wave.mp4"]
    video = np.stack(list(iio.imiter(out)))  # decoded by imageio's ffmpeg
    assert video.shape == (8, 128, 128, 3)
    from humanmv.rig import load_rig

    back = load_rig(rig_file)
    expected = render_animation(back, back.clips["wave"], renderer,
                                AnimationConfig(seconds=1, fps=8, size=128, camera="orbit"))
    assert np.abs(video.astype(float) - expected).mean() < 4  # H.264 at CRF 18
    assert np.abs(video[0].astype(float) - video[4]).mean() > 2


def _fails(capsys, *args: str) -> str:
    from humanmv.cli import main

    with pytest.raises(SystemExit) as done:
        main(["animate", *args])
    err = capsys.readouterr().err
    assert done.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def test_animate_refuses_bad_input_in_one_line(rig_file, tmp_path, capsys, body, avatar):
    from humanmv.io.glb import save_glb

    m = avatar.mesh
    static = save_glb(tmp_path / "static.glb", m.vertices, m.faces, m.uvs, m.uv_faces, m.texture)
    out = str(tmp_path / "clip.mp4")
    assert "re-run `humanmv generate` without --no-rig" in _fails(capsys, str(static), "--out", out)
    err = _fails(capsys, str(rig_file), "--motion", "jump", "--out", out)
    assert "neither a clip" in err and "photo, idle, walk, wave" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "humanmv.motion", "version": 1, "fps": 24, "frames": [{"bones": {"tail": [0, 0, 1]}}]}))
    assert "'tail' is not a bone of the rig" in _fails(capsys, str(rig_file), "--motion", str(bad), "--out", out)
    assert "--camera must be front or orbit" in _fails(capsys, str(rig_file), "--camera", "top", "--out", out)
    assert "--size must be an even number" in _fails(capsys, str(rig_file), "--size", "101", "--out", out)
    assert "--fps must be within" in _fails(capsys, str(rig_file), "--fps", "0", "--out", out)
    assert "--out must be an .mp4" in _fails(capsys, str(rig_file), "--out", str(tmp_path / "clip.gif"))
    assert "not found" in _fails(capsys, str(tmp_path / "none.glb"), "--out", out)
    (tmp_path / "taken.mp4").write_bytes(b"x")
    assert "--overwrite" in _fails(capsys, str(rig_file), "--out", str(tmp_path / "taken.mp4"))
    assert (tmp_path / "taken.mp4").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "static.glb", "taken.mp4"]


def test_animate_plays_a_motion_file(rig_file, tmp_path, capsys):
    from humanmv.cli import main

    motion = tmp_path / "raise.json"
    motion.write_text(json.dumps({"format": "humanmv.motion", "version": 1, "fps": 4, "loop": False,
                                  "frames": [{"bones": {}}, {"bones": {"upperarm01.R": [0, 0, -1.3]}}]}))
    out = tmp_path / "raise.mp4"
    with pytest.raises(SystemExit) as done:
        main(["animate", str(rig_file), "--motion", str(motion), "--out", str(out), "--seconds", "0.5",
              "--fps", "4", "--size", "64", "--quiet"])
    assert done.value.code == 0 and out.stat().st_size > 1000
    assert capsys.readouterr().err == ""


def test_generate_no_rig_writes_a_static_avatar(examples_dir, tmp_path, capsys):
    """The one run through a full generate here (the rigged default is checked by
    tests/cli/test_cli_generate.py, whose avatar.glb is rigged)."""
    from humanmv.io.glb import read_glb

    out = tmp_path / "static"
    proc = subprocess.run([*HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--views", "2",
                           "--size", "64", "--texture-size", "256", "--no-rig", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    gltf, _ = read_glb(out / "avatar.glb")
    assert "skins" not in gltf and "animations" not in gltf
    avatar = json.loads((out / "avatar.json").read_text())
    assert avatar["version"] == 2 and avatar["rig"] is None
    assert "without --no-rig" in _fails(capsys, str(out / "avatar.glb"), "--out", str(tmp_path / "a.mp4"))
