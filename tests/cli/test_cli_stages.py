"""`humanmv generate` and `bench` through the registry and the stages: a generator defined in a
test plugs in with one call; views of two sizes in one --cameras file; avatar.json describes
exactly the exported avatar.glb; a bug in a stage keeps its traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
TOY = HERE.parent / "generators"
HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]
WITH_TOY = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(TOY)!r}); import toy; toy.register(); "
            "from humanmv.cli import main; main()"]
BROKEN = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(TOY)!r}); import toy; toy.register_broken(); "
          "from humanmv.cli import main; main()"]


def run(cmd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def split(bench_split):
    return bench_split


def test_a_toy_generator_registered_in_one_call_runs_from_generate_and_bench(tmp_path, examples_dir, split):
    out = tmp_path / "toy"
    proc = run(WITH_TOY, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--generator", "toy",
               "--opt", "toy.strength=0.9", "--refine", "gain", "--opt", "gain.gain=1.5", "--views", "2",
               "--size", "64", "--texture-size", "256", "--quiet")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["generator"] == "toy" and info["options"] == {"strength": 0.9} and info["refine"] == ["gain"]
    assert info["refine_options"] == {"gain": {"gain": 1.5}} and "refine_gain" in info["timings_s"]
    assert sorted(p.name for p in (out / "views").iterdir()) == ["000.png", "001.png"]
    listed = run(WITH_TOY, "generators")
    assert listed.returncode == 0 and "toy: a test generator" in listed.stdout and "--opt toy.strength=0.3" in listed.stdout
    res = tmp_path / "bench"
    proc = run(WITH_TOY, "bench", "--split", str(split), "--method", "toy[strength=0.5]", "--method",
               "toy[strength=0.5,reconstruct=texture]", "--out", str(res), "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((res / "results.json").read_text())
    for label in ("toy[strength=0.5]", "toy[strength=0.5,reconstruct=texture]"):
        assert data["summary"][label]["subjects"] == 1 and data["summary"][label]["failed"] == 0
    assert data["run"]["method_settings"]["toy[strength=0.5,reconstruct=texture]"]["reconstruct"] == "texture"
    plain = run(HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "x"), "--generator", "toy")
    assert plain.returncode == 2 and "unknown --generator 'toy'" in plain.stderr  # nothing global leaked


def test_views_of_two_sizes_and_avatar_json_of_the_prior(tmp_path, examples_dir, body):
    from humanmv.cameras import Cameras, orbit_cameras

    square = orbit_cameras([0.0, 180.0], 0.0, 3.2, 30.0, 64, 64)
    tall = orbit_cameras([90.0], 0.0, 3.2, 30.0, 48, 80)
    cams = Cameras.with_sizes(torch.cat([square.K, tall.K]), torch.cat([square.world_to_cam, tall.world_to_cam]),
                              [[64, 64], [64, 64], [48, 80]])
    cams.save(tmp_path / "rig.json")
    out = tmp_path / "rig"
    proc = run(HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--cameras",
               str(tmp_path / "rig.json"), "--texture-size", "256", "--quiet")
    assert proc.returncode == 0, proc.stderr
    sizes = [Image.open(out / folder / f"{i:03d}.png").size for folder in ("views", "normals", "masks") for i in range(3)]
    assert sizes == [(64, 64), (64, 64), (48, 80)] * 3
    back = Cameras.load(out / "cameras.json")
    assert back.sizes.tolist() == [[64, 64], [64, 64], [48, 80]]
    frames = json.loads((out / "transforms.json").read_text())["frames"]
    assert [(f["w"], f["h"]) for f in frames] == [(64, 64), (64, 64), (48, 80)]
    # the tall view is the same camera's pixels as rendering it alone at its own size
    alone = tmp_path / "alone"
    tall.save(tmp_path / "tall.json")
    assert run(HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(alone), "--cameras",
               str(tmp_path / "tall.json"), "--texture-size", "256", "--quiet").returncode == 0
    assert np.array_equal(np.asarray(Image.open(out / "views" / "002.png")), np.asarray(Image.open(alone / "views" / "000.png")))
    # the prior's avatar is the photo fit: avatar.json rebuilds it, and it matches fit.json's body
    _check_avatar_json(out, body, must_differ_from_fit=False)


def test_avatar_json_rebuilds_the_refitted_mvdiff_avatar(tmp_path, examples_dir, body):
    out = tmp_path / "mv"
    proc = run(HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--generator", "mvdiff",
               "--opt", "mvdiff.steps=2", "--views", "4", "--size", "64", "--texture-size", "256", "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "avatar.json").read_text())
    assert data["reconstruct"] == "refit" and data["format"] == "humanmv.avatar"
    _check_avatar_json(out, body, must_differ_from_fit=True)


def test_surface_writes_surface_json_that_rebuilds_the_dressed_glb(tmp_path, examples_dir, body):
    from scipy.spatial import cKDTree

    from humanmv.io.glb import load_glb_mesh
    from humanmv.recon import read_avatar_json, rebuild_vertices

    out = tmp_path / "dressed"
    proc = run(HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--reconstruct", "surface",
               "--views", "4", "--size", "64", "--texture-size", "256", "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = read_avatar_json(out / "avatar.json")
    surface = json.loads((out / "surface.json").read_text())
    assert data["reconstruct"] == "surface" and data["offsets"]["file"] == "surface.json"
    assert surface["format"] == "humanmv.surface" and len(surface["offsets"]) == body.num_vertices
    assert [s["kind"] for s in data["shells"]] == [k for spec in surface["shells"] for k in _made_by(spec["kind"])]
    run_info = json.loads((out / "run.json").read_text())
    assert "reconstruct_surface" in json.dumps(run_info)
    rebuilt = rebuild_vertices(body, data, surface).numpy()
    glb = load_glb_mesh(out / "avatar.glb").vertices
    # the GLB splits vertices at UV seams: the same points, some repeated
    assert np.abs(cKDTree(rebuilt).query(glb)[0]).max() < 1e-5
    assert np.abs(cKDTree(glb).query(rebuilt)[0]).max() < 1e-5


def _made_by(kind: str) -> list[str]:
    return {"long-hair": ["scalp-hair", "long-hair"], "bun": ["scalp-hair", "bun"], "short-hair": ["scalp-hair"]}.get(kind, [kind])


def _check_avatar_json(out: Path, body, must_differ_from_fit: bool) -> None:
    from humanmv.body.anny_model import BodyParams
    from humanmv.io.glb import load_glb_mesh, split_uv_seams
    from humanmv.recon import read_avatar_json, rebuild_vertices

    rebuilt = rebuild_vertices(body, read_avatar_json(out / "avatar.json"))
    glb = load_glb_mesh(out / "avatar.glb")
    expected = split_uv_seams(rebuilt, body.faces, body.uvs, body.uv_faces).positions
    assert expected.shape == glb.vertices.shape
    assert np.abs(expected - glb.vertices).max() < 1e-5
    fit = json.loads((out / "fit.json").read_text())["params"]
    with torch.no_grad():
        photo_fit = body(BodyParams.from_dict(fit, body.expression_names)).vertices[0]
    moved = (rebuilt - photo_fit).norm(dim=-1).max()
    if must_differ_from_fit:
        assert moved > 1e-3, "the refit did not move the body"
    else:
        assert moved < 1e-4  # fit.json rounds its parameters to 6 digits


def test_a_bug_in_a_stage_keeps_its_traceback(tmp_path, examples_dir):
    out = tmp_path / "bug"
    proc = run(BROKEN, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--generator", "broken",
               "--views", "2", "--size", "64", "--texture-size", "256")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and "ValueError: generator 'broken' returned views at other cameras" in proc.stderr
    assert "humanmv: error:" not in proc.stderr and not out.exists()
