"""The rigged avatar.glb: a `rig.Rig` as a glTF 2.0 skin with animations, and back.

Layout of the file (on top of `io.glb`'s textured mesh: seams split, v flipped, PNG texture):

- node 0: the mesh ("avatar"), at the scene root with no transform (glTF ignores a skinned
  node's own transform), `skin` 0; nodes 1..J: the joints, named by Anny's bone labels, each
  holding its parent's children list; the scene's roots are node 0 and the root joint.
- the joints' own translation / rotation: the rig's default pose (`Rig.pose_local`: the photo's
  pose), what a viewer shows with no animation playing.
- skin 0 "anny": `joints` in the rig's order (parents first), `inverseBindMatrices` (the bind
  pose: Anny's pose zero), `skeleton` = the root joint.
- primitive attributes JOINTS_0 (unsigned short) and WEIGHTS_0 (float, rows sum to 1); one
  morph target "photo_offset" (POSITION offsets, mesh.extras.targetNames) with default weight
  `Rig.pose_morph`.
- one animation per clip, by name: LINEAR samplers; per clip one input (the key times) shared
  by a rotation channel for every joint that any clip or the default pose turns, a translation
  channel for the root and a weights channel for the morph target; extras.humanmv.loop.

`load_rig` reads any file laid out so (it also accepts node matrices, STEP / CUBICSPLINE
samplers and per-channel key times, resampled at the union of the keys) and refuses a static
GLB with a one-line ConfigError that says how to get a rigged one.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from humanmv.errors import ConfigError
from humanmv.io.atomic import atomic_write_bytes
from humanmv.io.glb import (GLBWriter, encode_png, read_accessor, read_glb, split_uv_seams,
                            texture_to_uint8, textured_mesh_gltf)

_FLOAT, _USHORT = 5126, 5123
_ARRAY_BUFFER = 34962
SKIN_NAME = "anny"
STATIC_HINT = "re-run `humanmv generate` without --no-rig to get an animatable avatar.glb"


def _floats(x) -> list[float]:
    return [float(v) for v in np.asarray(x, np.float32).reshape(-1)]


def rigged_glb_bytes(rig, name: str = "avatar") -> bytes:
    """The GLB of `rig` (a `humanmv.rig.Rig` with a texture), laid out as the module says."""
    from humanmv.rig.skeleton import PHOTO_MORPH, quaternions_of

    if rig.texture is None:
        raise ValueError("a rig needs its texture to be written as a GLB")
    geometry = split_uv_seams(rig.vertices, rig.faces, rig.uvs, rig.uv_faces)
    src = torch.from_numpy(geometry.source_vertex)
    writer = GLBWriter()
    skin_attributes = {
        "JOINTS_0": writer.add_accessor(rig.joints[src].numpy().astype(np.uint16), "VEC4", _USHORT,
                                        _ARRAY_BUFFER),
        "WEIGHTS_0": writer.add_accessor(rig.weights[src].numpy().astype(np.float32), "VEC4", _FLOAT,
                                         _ARRAY_BUFFER),
    }
    png = encode_png(texture_to_uint8(rig.texture))
    gltf = textured_mesh_gltf(writer, geometry, png, name, skin_attributes)
    mesh = gltf["meshes"][0]
    if rig.photo_offset is not None:
        target = writer.add_accessor(rig.photo_offset[src].numpy().astype(np.float32), "VEC3", _FLOAT,
                                     _ARRAY_BUFFER, bounds=True)
        mesh["primitives"][0]["targets"] = [{"POSITION": target}]
        mesh["weights"] = [float(rig.pose_morph)]
        mesh["extras"] = {"targetNames": [PHOTO_MORPH]}

    J = len(rig.joint_names)
    pose_q = quaternions_of(rig.pose_local)
    children: list[list[int]] = [[] for _ in range(J)]
    for j, p in enumerate(rig.parents):
        if p >= 0:
            children[p].append(j + 1)
    for j in range(J):
        node = {"name": rig.joint_names[j], "translation": _floats(rig.pose_local[j, :3, 3]),
                "rotation": _floats(pose_q[j])}
        if children[j]:
            node["children"] = children[j]
        gltf["nodes"].append(node)
    gltf["nodes"][0]["skin"] = 0
    roots = [j + 1 for j, p in enumerate(rig.parents) if p < 0]
    gltf["scenes"][0]["nodes"] = [0, *roots]
    ibm = rig.inverse_bind.clone()
    ibm[:, 3] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=ibm.dtype)  # validators want exact affine rows
    ibm = ibm.numpy().astype(np.float32).transpose(0, 2, 1).reshape(J, 16)
    gltf["skins"] = [{"name": SKIN_NAME, "inverseBindMatrices": writer.add_accessor(ibm, "MAT4", _FLOAT, None),
                      "joints": list(range(1, J + 1)), "skeleton": roots[0]}]
    gltf["animations"] = _animations(rig, writer)
    gltf["asset"]["extras"] = {"humanmv": {"rig": SKIN_NAME, "version": 1}}
    return writer.to_bytes(gltf)


def _animations(rig, writer: GLBWriter) -> list[dict]:
    """One glTF animation per clip (module docstring)."""
    from humanmv.rig.skeleton import quaternions_of

    bind_q = quaternions_of(rig.bind_local)
    turned = torch.zeros(len(rig.joint_names), dtype=torch.bool)
    for q in [quaternions_of(rig.pose_local)[None]] + [c.rotations for c in rig.clips.values()]:
        # float32 keys of an unturned joint keep 1 - |q . q_bind| under 1e-7; 1e-6 is a 0.16 degree turn
        turned |= ((q.double() * bind_q).sum(-1).abs() < 1 - 1e-6).any(0)
    animated = [j for j in range(len(rig.joint_names)) if turned[j] or rig.parents[j] < 0]
    out = []
    for clip in rig.clips.values():
        samplers, channels = [], []
        times = writer.add_accessor(clip.times.numpy().astype(np.float32), "SCALAR", _FLOAT, None, bounds=True)

        def channel(values: np.ndarray, gl_type: str, node: int, path: str) -> None:
            output = writer.add_accessor(values.astype(np.float32), gl_type, _FLOAT, None)
            samplers.append({"input": times, "output": output, "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

        for j in animated:
            channel(clip.rotations[:, j].numpy(), "VEC4", j + 1, "rotation")
            if rig.parents[j] < 0:
                channel(clip.translations[:, j].numpy(), "VEC3", j + 1, "translation")
        if rig.photo_offset is not None:
            channel(clip.morph.numpy(), "SCALAR", 0, "weights")
        out.append({"name": clip.name, "samplers": samplers, "channels": channels,
                    "extras": {"humanmv": {"loop": bool(clip.loop)}}})
    return out


def save_rigged_glb(path: str | os.PathLike[str], rig, name: str = "avatar") -> Path:
    """Write `rig` as a skinned, animated binary glTF 2.0 file, atomically. Returns the path."""
    return atomic_write_bytes(Path(path), rigged_glb_bytes(rig, name))


# ---- reading back ----------------------------------------------------------------------------
def _read(path: str | os.PathLike[str]) -> tuple[dict, bytes]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; give an avatar.glb written by `humanmv generate`")
    try:
        return read_glb(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{str(err).splitlines()[0]}; give an avatar.glb written by `humanmv generate`") from None


def clip_names(path: str | os.PathLike[str]) -> list[str]:
    """The animation (clip) names of a GLB, in file order ([] for a static one); reads the JSON
    chunk only."""
    gltf, _ = _read(path)
    return [a.get("name", f"animation{i}") for i, a in enumerate(gltf.get("animations", []))]


def _node_local(node: dict) -> torch.Tensor:
    """(4, 4) float64 local transform of a glTF node (matrix, or T * R * S)."""
    from humanmv.rig.rotations import quaternion_to_matrix

    if "matrix" in node:
        return torch.tensor(node["matrix"], dtype=torch.float64).reshape(4, 4).T
    m = torch.eye(4, dtype=torch.float64)
    m[:3, :3] = quaternion_to_matrix(torch.tensor(node.get("rotation", [0, 0, 0, 1]), dtype=torch.float64))
    m[:3, :3] = m[:3, :3] * torch.tensor(node.get("scale", [1, 1, 1]), dtype=torch.float64)
    m[:3, 3] = torch.tensor(node.get("translation", [0, 0, 0]), dtype=torch.float64)
    return m


def _sample(times: np.ndarray, keys: np.ndarray, values: np.ndarray, mode: str, at: np.ndarray,
            rotation: bool) -> np.ndarray:
    """A sampler's values (K, D) at times `at` (N,) -> (N, D)."""
    from humanmv.rig.rotations import slerp

    if mode == "CUBICSPLINE":  # (in-tangent, value, out-tangent) per key: the values, linearly
        values = values.reshape(len(keys), 3, -1)[:, 1]
    hi = np.clip(np.searchsorted(keys, at, side="right"), 1, max(len(keys) - 1, 1))
    lo = hi - 1
    if len(keys) == 1:
        return np.repeat(values[:1], len(at), 0)
    alpha = np.clip((at - keys[lo]) / np.maximum(keys[hi] - keys[lo], 1e-12), 0, 1)
    if mode == "STEP":
        alpha = (alpha >= 1).astype(np.float64)
    if rotation:
        q0, q1 = (torch.from_numpy(values[i].astype(np.float64)) for i in (lo, hi))
        return slerp(q0, q1, torch.from_numpy(alpha)).numpy()
    return (1 - alpha[:, None]) * values[lo] + alpha[:, None] * values[hi]


def load_rig(path: str | os.PathLike[str]):
    """A `humanmv.rig.Rig` from a rigged GLB (module docstring). ConfigError (one line) when
    the file is missing, not a GLB, static, or skinned in a way the rig cannot hold."""
    from PIL import Image

    from humanmv.rig.rotations import matrix_to_quaternion
    from humanmv.rig.skeleton import INFLUENCES, Clip, Rig

    gltf, binary = _read(path)
    if not gltf.get("skins"):
        raise ConfigError(f"{path}: a static GLB without a skeleton; {STATIC_HINT}")
    skinned = [i for i, n in enumerate(gltf.get("nodes", [])) if "skin" in n and "mesh" in n]
    mesh_json = gltf["meshes"][gltf["nodes"][skinned[0]]["mesh"]] if len(skinned) == 1 else None
    if mesh_json is None or len(mesh_json["primitives"]) != 1:
        raise ConfigError(f"{path}: not a humanmv rigged GLB (expected one skinned mesh with one primitive); {STATIC_HINT}")
    nodes = gltf["nodes"]
    skin = gltf["skins"][nodes[skinned[0]]["skin"]]
    joint_nodes = list(skin["joints"])
    position = {n: j for j, n in enumerate(joint_nodes)}
    parent_node = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
    parents = [position.get(parent_node.get(n, -1), -1) for n in joint_nodes]
    if any(not p < j for j, p in enumerate(parents)) or parents.count(-1) != 1:
        raise ConfigError(f"{path}: its skin's joints are not one tree listed parents first; {STATIC_HINT}")
    J = len(joint_nodes)
    local = torch.stack([_node_local(nodes[n]) for n in joint_nodes])
    above = parent_node.get(joint_nodes[0])
    while above is not None:  # non-joint ancestors of the root joint move the whole skeleton
        local[0] = _node_local(nodes[above]) @ local[0]
        above = parent_node.get(above)
    if "inverseBindMatrices" in skin:
        ibm = torch.from_numpy(read_accessor(gltf, binary, skin["inverseBindMatrices"]).astype(np.float64))
    else:
        ibm = torch.eye(4, dtype=torch.float64).repeat(J, 1, 1)

    prim = mesh_json["primitives"][0]
    attrs = prim["attributes"]
    if not {"POSITION", "TEXCOORD_0", "JOINTS_0", "WEIGHTS_0"} <= set(attrs) or "indices" not in prim:
        raise ConfigError(f"{path}: its skinned mesh lacks positions, UVs, indices or skin weights; {STATIC_HINT}")
    acc = lambda i: read_accessor(gltf, binary, i)  # noqa: E731
    vertices = torch.from_numpy(acc(attrs["POSITION"]).astype(np.float32))
    uvs = acc(attrs["TEXCOORD_0"]).astype(np.float32)
    uvs[:, 1] = 1.0 - uvs[:, 1]  # glTF's top-left origin -> v up
    faces = torch.from_numpy(acc(prim["indices"]).reshape(-1, 3).astype(np.int64))
    joints = torch.from_numpy(acc(attrs["JOINTS_0"]).astype(np.int64))
    weights = torch.from_numpy(acc(attrs["WEIGHTS_0"]).astype(np.float32))
    if joints.shape[1] != INFLUENCES or int(joints.max()) >= J:
        raise ConfigError(f"{path}: its JOINTS_0 are not 4 joints of the skin per vertex; {STATIC_HINT}")
    weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-12)
    offset, morph_default = None, 0.0
    if prim.get("targets"):
        offset = torch.from_numpy(acc(prim["targets"][0]["POSITION"]).astype(np.float32))
        morph_default = float((mesh_json.get("weights") or [0.0])[0])
    texture = None
    material = gltf.get("materials", [{}])[prim.get("material", 0)] if "material" in prim else {}
    tex_ref = material.get("pbrMetallicRoughness", {}).get("baseColorTexture")
    if tex_ref is not None:
        image = gltf["images"][gltf["textures"][tex_ref["index"]]["source"]]
        view = gltf["bufferViews"][image["bufferView"]]
        start = view.get("byteOffset", 0)
        png = Image.open(io.BytesIO(binary[start:start + view["byteLength"]])).convert("RGB")
        texture = torch.from_numpy(np.asarray(png, dtype=np.float32) / 255.0)

    rig = Rig(joint_names=[nodes[n].get("name", f"joint{j}") for j, n in enumerate(joint_nodes)],
              parents=parents, inverse_bind=ibm, vertices=vertices, faces=faces,
              uvs=torch.from_numpy(uvs), uv_faces=None, texture=texture, joints=joints, weights=weights,
              pose_local=local, photo_offset=offset, pose_morph=morph_default)
    default_q = matrix_to_quaternion(local[:, :3, :3])
    clips = {}
    for i, anim in enumerate(gltf.get("animations", [])):
        inputs = [acc(anim["samplers"][c["sampler"]]["input"])[:, 0].astype(np.float64) for c in anim["channels"]]
        if not inputs:
            continue
        at = np.unique(np.concatenate(inputs))
        at = at - at[0]
        T = len(at)
        rot = default_q.expand(T, J, 4).clone()
        trans = local[:, :3, 3].expand(T, J, 3).clone()
        morph = torch.full((T,), morph_default, dtype=torch.float64)
        for c, keys in zip(anim["channels"], inputs):
            sampler = anim["samplers"][c["sampler"]]
            target = c["target"]
            values = acc(sampler["output"]).astype(np.float64)
            mode = sampler.get("interpolation", "LINEAR")
            if target.get("node") in position and target["path"] in ("rotation", "translation"):
                j = position[target["node"]]
                sampled = torch.from_numpy(_sample(at, keys - keys[0], values, mode, at, target["path"] == "rotation"))
                (rot if target["path"] == "rotation" else trans)[:, j] = sampled
            elif target["path"] == "weights" and target.get("node") == skinned[0] and offset is not None:
                per_key = values.reshape(len(keys), -1)[:, :1]
                morph = torch.from_numpy(_sample(at, keys - keys[0], per_key, mode, at, False)[:, 0])
        name = anim.get("name", f"animation{i}")
        loop = bool(anim.get("extras", {}).get("humanmv", {}).get("loop", True))
        clips[name] = Clip(name, torch.from_numpy(at), rot.float(), trans.float(), morph.float(), loop)
    rig.clips = clips
    return rig
