"""The Khronos glTF-Validator (npm gltf-validator, run with node) on our GLBs: the rigged,
animated avatar.glb and the static one have no errors and no warnings, and a file with broken
skin weights does get errors (the check can fail)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace

import pytest
from browser import CLIENTS, NODE_MODULES, require_client
from rigged_files import write_rigged_and_static

from humanmv.io.glb import split_uv_seams


def validate(*paths) -> list[dict]:
    node = require_client(shutil.which("node") or "/usr/bin/node", "node")
    require_client(NODE_MODULES / "gltf-validator", "the npm package gltf-validator")
    proc = subprocess.run([str(node), str(CLIENTS / "validate_gltf.mjs"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def files(body, tmp_path_factory):
    return write_rigged_and_static(body, tmp_path_factory.mktemp("validator"))


def test_rigged_and_static_glbs_are_valid(files):
    rigged, static = validate(files["rigged"], files["static"])
    for report in (rigged, static):
        assert (report["errors"], report["warnings"]) == (0, 0), report["messages"][:10]
    info = rigged["info"]
    assert info["hasSkins"] and info["hasMorphTargets"] and info["animationCount"] == 4
    rig = files["rig"]
    split = split_uv_seams(rig.vertices, rig.faces, rig.uvs, rig.uv_faces)
    assert info["totalVertexCount"] == len(split.positions) == static["info"]["totalVertexCount"]
    assert not static["info"]["hasSkins"] and static["info"]["animationCount"] == 0


def test_a_dressed_avatar_glb_is_valid(body, tmp_path):
    """Offsets, a skirt and a bun as one skinned mesh: still no errors and no warnings."""
    dressed = write_rigged_and_static(body, tmp_path, dressed=True)
    rigged, static = validate(dressed["rigged"], dressed["static"])
    for report in (rigged, static):
        assert (report["errors"], report["warnings"]) == (0, 0), report["messages"][:10]
    rig = dressed["rig"]
    assert rig.vertices.shape[0] > body.num_vertices  # the shells are in it
    split = split_uv_seams(rig.vertices, rig.faces, rig.uvs, rig.uv_faces)
    assert rigged["info"]["hasSkins"] and rigged["info"]["totalVertexCount"] == len(split.positions)


def test_the_validator_catches_broken_skin_weights(files, tmp_path):
    from humanmv.rig import save_rigged_glb

    rig = files["rig"]
    broken = save_rigged_glb(tmp_path / "broken.glb", replace(rig, weights=rig.weights * 2))
    (report,) = validate(broken)
    assert report["errors"] > 0
    assert any("WEIGHTS" in m["code"] for m in report["messages"]), report["messages"][:5]
