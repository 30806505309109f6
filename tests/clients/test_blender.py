"""Blender (Debian's blender, its own glTF importer) on the rigged avatar.glb: it finds the
armature with all of Anny's bones and every clip with its frame range, and the mesh it
evaluates at a walk frame is our torch skinning of that frame, vertex by vertex, within 1 mm
(and far from the bind pose: a skin that did nothing would fail)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import CLIENTS, require_client
from rigged_files import write_rigged_and_static

BLENDER = Path("/usr/bin/blender")
WALK_FRAME = 7  # a key of the 24 fps walk: legs apart


def blender_pose(glb: Path, clip: str, frame: int, out: Path) -> dict:
    import numpy

    require_client(BLENDER, "Debian's blender")
    numpy_dir = Path(numpy.__file__).resolve().parents[1]
    proc = subprocess.run([str(BLENDER), "-b", "--factory-startup", "--python", str(CLIENTS / "blender_pose.py"),
                           "--", str(glb), str(numpy_dir), clip, str(frame), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def imported(body, tmp_path_factory):
    folder = tmp_path_factory.mktemp("blender")
    files = write_rigged_and_static(body, folder)
    return files, blender_pose(files["rigged"], "walk", WALK_FRAME, folder / "walk.json")


def test_blender_sees_the_armature_bones_and_clips(imported):
    files, report = imported
    rig = files["rig"]
    assert report["armature"] == "anny"
    assert sorted(report["bones"]) == sorted(rig.joint_names) and len(report["bones"]) == 104
    assert report["fps"] == 24
    ranges = {name.rsplit("_", 1)[0]: r for name, r in report["actions"].items() if name.endswith("_anny")}
    assert ranges == {"photo": [0.0, 1.0], "idle": [0.0, 96.0], "walk": [0.0, 26.0], "wave": [0.0, 48.0]}
    for name, clip in rig.clips.items():
        if clip.keys > 1:
            assert ranges[name][1] == round(clip.duration * 24)
    assert report["frame"] == WALK_FRAME and report["shape_keys"]["photo_offset"] == 0.0


def test_blender_skins_the_walk_frame_like_our_torch_skinning(imported):
    from humanmv.rig import animate_vertices, load_rig

    files, report = imported
    back = load_rig(files["rigged"])  # glTF's vertex order: split along the UV seams
    ours = animate_vertices(back, back.clips["walk"], torch.tensor([WALK_FRAME / 24.0], dtype=torch.float64),
                            dtype=torch.float64)[0].numpy()
    blender = np.array(report["vertices"])
    assert blender.shape == ours.shape
    gltf_axes = np.stack([blender[:, 0], blender[:, 2], -blender[:, 1]], 1)  # Blender Z up -> glTF Y up
    error = np.linalg.norm(gltf_axes - ours, axis=1)
    assert error.max() < 1e-3, (error.max(), error.argmax())
    moved = np.linalg.norm(ours - back.vertices.numpy(), axis=1)
    assert moved.max() > 0.2 and np.median(moved) > 0.01  # the walk frame is far from the bind pose
