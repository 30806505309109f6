"""`humanmv sample gan3d` on a tiny random generator: the folder it promises (views, cameras that
put the body on the person, grid, videos), one person per z across views, poses from a file,
and the one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
MVDIFF = Path(__file__).resolve().parents[2] / "src" / "humanmv" / "weights" / "mvdiff-small"


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from humanmv.models.gan3d import GAN3DGenerator, get_gan3d_config

    torch.manual_seed(0)
    return GAN3DGenerator(get_gan3d_config("tiny")).save_pretrained(tmp_path_factory.mktemp("g") / "tiny")


def _sample(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, "sample", "gan3d", *args], capture_output=True, text=True, timeout=300)


def test_sample_writes_people_views_cameras_grid_and_videos(tiny_checkpoint, tmp_path, body, renderer):
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import Cameras
    from PIL import Image
    from humanmv.models.gan3d import PosedBody, render_labels
    from humanmv.pipelines.gan3d_sampling import GAN3DSampleConfig, sample_people

    out = tmp_path / "s"
    summary = sample_people(GAN3DSampleConfig(out=str(out), checkpoint=str(tiny_checkpoint), views=4, count=2, seed=3),
                            body=body, renderer=renderer)
    assert [p["person"] for p in summary["poses"]] == [0, 1] and summary["generator"] == "tiny"
    assert {"grid.png", "turntable.mp4", "walk.mp4", "samples.json", "person-000", "person-001"} == \
        {p.name for p in out.iterdir()}
    folder = out / "person-001" / "pose-000"
    cams = Cameras.load(folder / "cameras.json")
    assert len(cams) == 4 and (cams.height, cams.width) == (32, 16)
    rgba = np.stack([np.asarray(Image.open(folder / "views" / f"{n}.png")) for n in cams.names])
    assert rgba.shape == (4, 32, 16, 4)
    # The saved body seen through the saved cameras fills each view's portrait as in training:
    # 1 / 1.1 of its height, or of its width when the pose is wide.
    params = BodyParams.from_dict(json.loads((folder / "body.json").read_text()), body.expression_names)
    on = render_labels(PosedBody.from_anny(body, params), cams.resized(160, 320), renderer) >= 0  # 10x: thin limbs count
    rows, cols = on.any(2).float().sum(1), on.any(1).float().sum(1)
    fill = torch.maximum(rows / 320, cols / 160)
    assert bool(((fill - 1 / 1.1).abs() < 0.02).all()), (rows, cols)
    # Grid: 2 rows of 4 views; the videos play (ffprobe through imageio-ffmpeg).
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[0] == 2 * 32 + 3 * 2 and grid.shape[1] == 4 * 16 + 5 * 2
    import imageio.v3 as iio

    assert iio.imread(out / "turntable.mp4").shape == (48, 64, 32, 3)
    assert iio.imread(out / "walk.mp4").shape[0] == 24


def test_same_z_same_person_other_seed_other_people(tiny_checkpoint, body, renderer):
    from humanmv.cameras import ring_azimuths
    from humanmv.models.gan3d import GAN3DGenerator
    from humanmv.pipelines.gan3d_sampling import GAN3DSampleConfig, GAN3DSampler, person_bodies

    sampler = GAN3DSampler(GAN3DGenerator.from_pretrained(tiny_checkpoint), body, renderer)
    (params, family), = person_bodies(GAN3DSampleConfig(out="-", pose="walk", count=1), body)[0]
    assert family == "walking"
    posed = sampler.posed(params)
    cams = sampler.portrait_cameras(posed, ring_azimuths(3))
    z = torch.randn(2, sampler.config.z_dim, generator=torch.Generator().manual_seed(0))
    a, again, b = sampler(z[0], posed, cams), sampler(z[0], posed, cams), sampler(z[1], posed, cams)
    assert torch.equal(a.rgb, again.rgb) and a.rgb.shape == (3, 32, 16, 3) and a.mask.shape == (3, 32, 16)
    assert float((a.rgb - b.rgb).abs().max()) > 1e-3
    # Batch norm runs on its running statistics: one view alone is the same view in a batch.
    one = sampler(z[0], posed, cams[[1]])
    assert torch.allclose(one.rgb[0], a.rgb[1], atol=1e-5)


def test_pose_file_bodies_for_every_person(tiny_checkpoint, tmp_path, body):
    from humanmv.pipelines.gan3d_sampling import GAN3DSampleConfig, person_bodies

    poses = tmp_path / "poses.json"
    poses.write_text(json.dumps([{"pose_axis_angle": {"upperarm01.L": [0, 0.9, 0]}, "phenotype": {"height": 0.9}},
                                 {"body": {"pose_axis_angle": {"lowerleg01.R": [0.5, 0, 0]}}}]))
    people = person_bodies(GAN3DSampleConfig(out="-", pose=str(poses), count=2), body)
    assert [len(p) for p in people] == [2, 2]
    for k in range(2):
        assert float(people[k][0][0].pose.abs().sum()) == pytest.approx(0.9)
        assert float(people[k][0][0].phenotype[0, 4]) == pytest.approx(0.9)  # the file's height
    # The second body gives no phenotype: each person keeps its own random one.
    assert not torch.equal(people[0][1][0].phenotype, people[1][1][0].phenotype)


@pytest.mark.parametrize("pose, expected", [
    ({"pose_axis_angle": {"elbow.L": [0, 0, 0]}}, "unknown bone 'elbow.L'"),
    ({"pose_axis_angle": {"head": [0, float("nan"), 0]}}, "bone 'head' must be 3 finite numbers"),
    ({"pose_axis_angle": {"head": [0, 0]}}, "bone 'head' must be 3 finite numbers"),
    ({"pose_axis_angle": {}, "phenotype": {"height": 2}}, "phenotype 'height' must be a number in [0, 1]"),
    ({"joints": []}, "expected an object with a \"pose_axis_angle\""),
])
def test_bad_pose_files_are_one_line_errors_and_write_nothing(tiny_checkpoint, tmp_path, pose, expected):
    path = tmp_path / "pose.json"
    path.write_text(json.dumps(pose))  # json writes NaN as the NaN literal, which Python reads back
    out = tmp_path / "out"
    done = _sample("--out", str(out), "--checkpoint", str(tiny_checkpoint), "--pose", str(path))
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["pose.json"]  # no temporary folder left either


@pytest.mark.parametrize("args, expected", [
    (["--views", "0"], "--views must be within 1..360, got 0"),
    (["--truncation", "1.5"], "--truncation must be within [0, 1]"),
    (["--pose", "dance"], "--pose must be random, walk or a .json pose file"),
    (["--pose", "missing.json"], "missing.json: file not found"),
    (["--checkpoint", str(MVDIFF)], "not a 3DHumanGAN generator checkpoint"),
])
def test_bad_options_are_one_line_errors_and_write_nothing(tiny_checkpoint, tmp_path, args, expected):
    out = tmp_path / "out"
    base = ["--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-videos"]
    done = _sample(*base, *args)
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []
