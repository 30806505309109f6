"""The rigged avatar.glb: what save_rigged_glb writes reads back as the same rig, follows glTF's
skin conventions, shows the exported avatar mesh by default (load_glb_mesh), and a static GLB
is refused by load_rig with the one-line hint to re-run generate without --no-rig."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rig"))
from rig_cases import synthetic_avatar  # noqa: E402

from humanmv.errors import ConfigError  # noqa: E402
from humanmv.io.glb import load_glb_mesh, read_accessor, read_glb, save_glb, split_uv_seams  # noqa: E402


@pytest.fixture(scope="module")
def case(body, tmp_path_factory):
    from humanmv.rig import build_rig, save_rigged_glb

    avatar = synthetic_avatar(body, seed=1)
    rig = build_rig(body, avatar)
    folder = tmp_path_factory.mktemp("glb_skin")
    rigged = save_rigged_glb(folder / "rigged.glb", rig)
    m = avatar.mesh
    static = save_glb(folder / "static.glb", m.vertices, m.faces, m.uvs, m.uv_faces, m.texture)
    source = torch.from_numpy(split_uv_seams(rig.vertices, rig.faces, rig.uvs, rig.uv_faces).source_vertex)
    return {"avatar": avatar, "rig": rig, "rigged": rigged, "static": static, "source": source}


def test_round_trip_gives_back_the_rig(case):
    from humanmv.rig import load_rig

    rig, source = case["rig"], case["source"]
    back = load_rig(case["rigged"])
    assert back.joint_names == rig.joint_names and back.parents == rig.parents
    assert torch.allclose(back.inverse_bind, rig.inverse_bind, atol=1e-7)
    assert torch.equal(back.vertices, rig.vertices[source])
    assert torch.equal(back.joints, rig.joints[source])
    assert torch.allclose(back.weights, rig.weights[source], atol=1e-7)
    assert torch.equal(back.photo_offset, rig.photo_offset[source]) and back.pose_morph == 1.0
    assert torch.allclose(back.pose_local, rig.pose_local, atol=1e-6)
    assert torch.equal((back.texture * 255).round().to(torch.uint8), (rig.texture * 255).round().to(torch.uint8))
    assert list(back.clips) == ["photo", "idle", "walk", "wave"]
    for name, clip in rig.clips.items():
        again = back.clips[name]
        assert again.loop == clip.loop and torch.allclose(again.times, clip.times, atol=1e-6)
        assert torch.allclose(again.rotations, clip.rotations, atol=1e-7)  # every joint, keyed or not
        assert torch.allclose(again.translations, clip.translations, atol=1e-7)
        assert torch.equal(again.morph, clip.morph)


def test_read_back_rig_skins_like_the_original(case):
    from humanmv.rig import animate_vertices, load_rig

    rig, source = case["rig"], case["source"]
    back = load_rig(case["rigged"])
    times = torch.tensor([0.0, 0.3, 0.77], dtype=torch.float64)
    for name in ("walk", "wave"):
        ours = animate_vertices(rig, rig.clips[name], times)[:, source]
        theirs = animate_vertices(back, back.clips[name], times)
        assert (ours - theirs).abs().max() < 1e-5, name
        assert (ours[1] - ours[0]).norm(dim=1).max() > 0.05  # the frames differ


def test_default_pose_is_the_avatar_mesh_as_the_static_export_has_it(case):
    rigged, static = load_glb_mesh(case["rigged"]), load_glb_mesh(case["static"])
    assert np.array_equal(rigged.faces, static.faces)
    assert np.abs(rigged.vertices - static.vertices).max() < 1e-5
    assert np.allclose(rigged.uvs, static.uvs, atol=1e-6) and np.array_equal(rigged.texture, static.texture)
    placed = case["avatar"].mesh.vertices[case["source"]].numpy()
    assert np.abs(rigged.vertices - placed).max() < 1e-5
    normals = rigged.normals
    assert normals.shape == rigged.vertices.shape and np.allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)


def test_file_follows_gltf_skin_conventions(case):
    gltf, binary = read_glb(case["rigged"])
    rig = case["rig"]
    J = len(rig.joint_names)
    mesh_node = gltf["nodes"][0]
    assert mesh_node == {"mesh": 0, "name": "avatar", "skin": 0}  # no transform on a skinned node
    (skin,) = gltf["skins"]
    assert skin["joints"] == list(range(1, J + 1)) and skin["skeleton"] == 1 and skin["name"] == "anny"
    assert [gltf["nodes"][n]["name"] for n in skin["joints"]] == rig.joint_names
    assert gltf["scenes"][0]["nodes"] == [0, 1]
    ibm = read_accessor(gltf, binary, skin["inverseBindMatrices"])
    assert ibm.shape == (J, 4, 4) and np.array_equal(ibm[:, 3], np.tile([0, 0, 0, 1], (J, 1)))
    prim = gltf["meshes"][0]["primitives"][0]
    assert gltf["accessors"][prim["attributes"]["JOINTS_0"]]["componentType"] == 5123  # unsigned short
    joints = read_accessor(gltf, binary, prim["attributes"]["JOINTS_0"])
    weights = read_accessor(gltf, binary, prim["attributes"]["WEIGHTS_0"])
    assert np.allclose(weights.sum(1), 1, atol=1e-6) and joints.max() < J
    for row_j, row_w in zip(joints[:2000], weights[:2000]):
        used = row_j[row_w > 0]
        assert len(set(used.tolist())) == len(used)  # no joint twice in a vertex
    assert gltf["meshes"][0]["extras"]["targetNames"] == ["photo_offset"] and gltf["meshes"][0]["weights"] == [1.0]
    names = [a["name"] for a in gltf["animations"]]
    assert names == ["photo", "idle", "walk", "wave"]
    for anim in gltf["animations"]:
        inputs = {s["input"] for s in anim["samplers"]}
        assert len(inputs) == 1  # one key track per clip
        paths = {(c["target"]["node"], c["target"]["path"]) for c in anim["channels"]}
        assert (1, "translation") in paths and (0, "weights") in paths
        turned = {rig.joint_names[n - 1] for n, p in paths if p == "rotation"}
        assert {"upperarm01.R", "lowerleg01.L", "head", "root"} <= turned and "finger2-2.L" not in turned
        assert anim["extras"]["humanmv"]["loop"] == (anim["name"] != "photo")


def _rewrite(path: Path, out: Path, edit) -> Path:
    gltf, binary = read_glb(path)
    edit(gltf)
    chunk = json.dumps(gltf).encode()
    chunk += b" " * (-len(chunk) % 4)
    out.write_bytes(struct.pack("<4sII", b"glTF", 2, 28 + len(chunk) + len(binary))
                    + struct.pack("<I4s", len(chunk), b"JSON") + chunk + struct.pack("<I4s", len(binary), b"BIN\x00") + binary)
    return out


def test_reader_takes_node_matrices_and_a_parent_above_the_skeleton(case, tmp_path):
    from humanmv.rig import load_rig

    def edit(gltf):
        root = gltf["nodes"][1]
        from humanmv.rig.rotations import quaternion_to_matrix, rigid

        m = rigid(quaternion_to_matrix(torch.tensor(root.pop("rotation"), dtype=torch.float64)),
                  torch.tensor(root.pop("translation"), dtype=torch.float64))
        root["matrix"] = m.T.reshape(-1).tolist()  # column-major
        gltf["nodes"].append({"name": "holder", "children": [1]})  # no transform: moves nothing
        gltf["scenes"][0]["nodes"] = [0, len(gltf["nodes"]) - 1]

    back = load_rig(_rewrite(case["rigged"], tmp_path / "matrix.glb", edit))
    assert torch.allclose(back.pose_local, case["rig"].pose_local, atol=1e-6)


def test_static_and_foreign_files_are_one_line_errors(case, tmp_path):
    from humanmv.rig import clip_names, load_rig

    with pytest.raises(ConfigError) as err:
        load_rig(case["static"])
    assert "static GLB" in str(err.value) and "without --no-rig" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_rig(tmp_path / "none.glb")
    text = tmp_path / "avatar.glb"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="not a GLB file"):
        load_rig(text)
    assert clip_names(case["static"]) == []
    assert clip_names(case["rigged"]) == ["photo", "idle", "walk", "wave"]
