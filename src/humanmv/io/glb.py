"""Binary glTF (GLB) export of a UV-textured mesh: the `avatar.glb` of the pipeline.

Frames: our world (metres, Y up, subject facing +Z) is glTF's, so positions are written as is.
Texture coordinates: ours have v up (image row = (1 - v) * Ht for a texture whose row 0 is its
top); glTF puts the UV origin at the top-left of the image, so the file holds v_gltf = 1 - v.

glTF has one index per vertex for every attribute, so vertices are split along UV seams (one
glTF vertex per distinct (vertex, uv) corner pair). Normals are area-weighted over the
*unsplit* mesh and then copied to the split vertices, so seams do not show as shading creases.
The winding is made outward (counter-clockwise seen from outside, what back-face culling in
viewers expects, since the material is single-sided) when the mesh's signed volume says it is
inward. The texture is embedded as PNG in a PBR material (metallic 0, roughness 0.8).

The GLB is assembled here (`GLBWriter`: JSON chunk + binary chunk, glTF 2.0) rather than through
trimesh, so every field is explicit; `io.gltf_skin` builds the rigged avatar.glb on the same
writer and mesh (`textured_mesh_gltf`). Reading back: `read_glb` / `read_accessor` (the container
and its arrays), `load_glb_mesh` (trimesh for a static file; a skinned one is posed by our own
skinning, as a viewer shows it).
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humanmv.io.images import to_uint8
from PIL import Image

from humanmv.io.atomic import atomic_write_bytes

# glTF constants
_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TRIANGLES = 4
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP_TO_EDGE = 9729, 9987, 33071
_GLB_MAGIC, _GLB_VERSION = b"glTF", 2
_CHUNK_JSON, _CHUNK_BIN = b"JSON", b"BIN\x00"

ROUGHNESS = 0.8
METALLIC = 0.0


def _numpy(x: Any) -> np.ndarray:
    """numpy view of an array-like or (CPU/GPU) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def texture_to_uint8(texture: Any) -> np.ndarray:
    """(Ht, Wt, 3) uint8, or float in [0, 1] (clipped), -> (Ht, Wt, 3) uint8."""
    tex = _numpy(texture)
    if tex.ndim != 3 or tex.shape[2] != 3 or tex.shape[0] < 1 or tex.shape[1] < 1:
        raise ValueError(f"texture must be (Ht, Wt, 3), got {tex.shape}")
    if tex.dtype != np.uint8 and not np.issubdtype(tex.dtype, np.floating):
        raise ValueError(f"texture must be uint8 or float in [0, 1], got {tex.dtype}")
    return np.ascontiguousarray(to_uint8(tex))


def _check_inputs(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                  uv_faces: np.ndarray) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.shape[0] == 0:
        raise ValueError(f"vertices must be (V, 3) with V > 0, got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise ValueError(f"faces must be (F, 3) with F > 0, got {faces.shape}")
    if uvs.ndim != 2 or uvs.shape[1] != 2 or uvs.shape[0] == 0:
        raise ValueError(f"uvs must be (T, 2) with T > 0, got {uvs.shape}")
    V, T = vertices.shape[0], uvs.shape[0]
    if uv_faces.shape != faces.shape:
        raise ValueError(f"uv_faces must be (F, 3) = {faces.shape}, got {uv_faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer) or not np.issubdtype(uv_faces.dtype, np.integer):
        raise ValueError("faces and uv_faces must be integer arrays")
    if faces.min() < 0 or faces.max() >= V:
        raise ValueError(f"faces index outside 0..{V - 1}")
    if uv_faces.min() < 0 or uv_faces.max() >= T:
        raise ValueError(f"uv_faces index outside 0..{T - 1}")
    if not (np.isfinite(vertices).all() and np.isfinite(uvs).all()):
        raise ValueError("vertices and uvs must be finite")


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) face normals of length 2 * area (right-hand rule on the winding)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals; +Y where undefined (no area around a vertex)."""
    fn = _face_normals(vertices, faces)
    vn = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    length = np.linalg.norm(vn, axis=1, keepdims=True)
    unit = vn / np.maximum(length, 1e-30)
    unit[length[:, 0] <= 1e-30] = (0.0, 1.0, 0.0)
    return unit


def _is_inward(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """True when the winding encloses a negative signed volume about the centroid (the same
    test the renderer uses to orient meshes); flat or open meshes with volume 0 are kept."""
    fn = _face_normals(vertices, faces)
    return float((fn * (vertices[faces[:, 0]] - vertices.mean(0))).sum()) < 0


@dataclass
class GLBGeometry:
    """The split, per-vertex arrays written to the file (glTF's view of the mesh).

    positions (N, 3) float32, normals (N, 3) float32 unit, uvs (N, 2) float32 v up,
    faces (F, 3) uint32 (same face order as the input), source_vertex (N,) int64 index of each
    split vertex in the input `vertices`.
    """

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    source_vertex: np.ndarray


def split_uv_seams(vertices: Any, faces: Any, uvs: Any, uv_faces: Any | None = None,
                   orient: bool = True) -> GLBGeometry:
    """One glTF vertex per distinct (vertex, uv) corner pair, with seam-free normals.

    Args:
        vertices: (V, 3) float positions. faces: (F, 3) int.
        uvs: (T, 2) float, v up. uv_faces: (F, 3) int into `uvs`; None = `uvs` indexed like
            `vertices` (then T must equal V).
        orient: reverse every face's corner order when the mesh is wound inward.
    """
    v = _numpy(vertices).astype(np.float64)
    f = _numpy(faces)
    t = _numpy(uvs).astype(np.float64)
    tf = f if uv_faces is None else _numpy(uv_faces)
    _check_inputs(v, f, t, tf)
    if uv_faces is None and t.shape[0] != v.shape[0]:
        raise ValueError(f"uvs without uv_faces must have one row per vertex ({v.shape[0]}), "
                         f"got {t.shape[0]}")
    f, tf = f.astype(np.int64), tf.astype(np.int64)
    if orient and _is_inward(v, f):
        f, tf = f[:, [0, 2, 1]], tf[:, [0, 2, 1]]
    normals = _vertex_normals(v, f)
    T = t.shape[0]
    unique, inverse = np.unique((f * T + tf).reshape(-1), return_inverse=True)
    vi, ti = unique // T, unique % T
    return GLBGeometry(
        positions=v[vi].astype(np.float32),
        normals=normals[vi].astype(np.float32),
        uvs=t[ti].astype(np.float32),
        faces=inverse.reshape(-1, 3).astype(np.uint32),
        source_vertex=vi,
    )


def encode_png(texture_u8: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(texture_u8, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


class GLBWriter:
    """Assembles a GLB: binary chunk pieces (each 4-byte aligned), buffer views and accessors,
    then the container around a glTF JSON dict (`to_bytes`)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.views: list[dict] = []
        self.accessors: list[dict] = []
        self._size = 0

    def add_view(self, raw: bytes, target: int | None = None) -> int:
        view = {"buffer": 0, "byteOffset": self._size, "byteLength": len(raw)}
        self.parts.append(raw + b"\x00" * (-len(raw) % 4))  # keep every view 4-byte aligned
        self._size += len(self.parts[-1])
        if target is not None:
            view["target"] = target
        self.views.append(view)
        return len(self.views) - 1

    def add_accessor(self, data: np.ndarray, gl_type: str, component: int, target: int | None,
                     bounds: bool = False) -> int:
        """An accessor over `data` (count, ...) in its own view; `bounds` adds min/max (required
        for POSITION, morph targets and animation inputs)."""
        data = np.ascontiguousarray(data)
        acc = {"bufferView": self.add_view(data.tobytes(), target), "componentType": component,
               "count": int(data.shape[0]), "type": gl_type}
        if bounds:
            flat = data.reshape(data.shape[0], -1)
            acc["min"] = flat.min(axis=0).astype(float).tolist()
            acc["max"] = flat.max(axis=0).astype(float).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def to_bytes(self, gltf: dict) -> bytes:
        """The GLB of `gltf` (its accessors, bufferViews and buffers are filled in here)."""
        binary = b"".join(self.parts)
        gltf = {**gltf, "accessors": self.accessors, "bufferViews": self.views,
                "buffers": [{"byteLength": len(binary)}]}
        return glb_container(gltf, binary)


def glb_container(gltf: dict, binary: bytes) -> bytes:
    """The GLB file of a glTF JSON dict and its binary chunk (none when `binary` is empty)."""
    json_chunk = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)  # JSON chunks are padded with spaces
    chunks = [struct.pack("<I4s", len(json_chunk), _CHUNK_JSON), json_chunk]
    if binary:
        chunks += [struct.pack("<I4s", len(binary), _CHUNK_BIN), binary]
    total = 12 + sum(len(c) for c in chunks)
    return b"".join([struct.pack("<4sII", _GLB_MAGIC, _GLB_VERSION, total), *chunks])


def textured_mesh_gltf(writer: GLBWriter, geometry: GLBGeometry, png: bytes, name: str = "avatar",
                       extra_attributes: dict[str, int] | None = None) -> dict:
    """The glTF JSON of one textured triangle primitive (node 0, mesh 0, material 0), its
    arrays added to `writer`; `extra_attributes` (name -> accessor) join the primitive's."""
    uv_gltf = geometry.uvs.astype(np.float32).copy()
    uv_gltf[:, 1] = 1.0 - uv_gltf[:, 1]  # v up -> glTF's top-left origin
    indices = writer.add_accessor(geometry.faces.astype(np.uint32).reshape(-1), "SCALAR", _UINT32,
                                  _ELEMENT_ARRAY_BUFFER)
    position = writer.add_accessor(geometry.positions.astype(np.float32), "VEC3", _FLOAT,
                                   _ARRAY_BUFFER, bounds=True)
    normal = writer.add_accessor(geometry.normals.astype(np.float32), "VEC3", _FLOAT, _ARRAY_BUFFER)
    texcoord = writer.add_accessor(uv_gltf, "VEC2", _FLOAT, _ARRAY_BUFFER)
    image_view = writer.add_view(png, None)
    return {
        "asset": {"version": "2.0", "generator": "humanmv"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{"name": name, "primitives": [{
            "attributes": {"POSITION": position, "NORMAL": normal, "TEXCOORD_0": texcoord,
                           **(extra_attributes or {})},
            "indices": indices, "material": 0, "mode": _TRIANGLES}]}],
        "materials": [{
            "name": f"{name}_material",
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": 0, "texCoord": 0},
                "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                "metallicFactor": METALLIC,
                "roughnessFactor": ROUGHNESS,
            },
            "alphaMode": "OPAQUE",
            "doubleSided": False,
        }],
        "textures": [{"source": 0, "sampler": 0}],
        # Clamp: a texture atlas must not bleed across its edges (as in our renderer).
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR,
                      "wrapS": _CLAMP_TO_EDGE, "wrapT": _CLAMP_TO_EDGE}],
        "images": [{"bufferView": image_view, "mimeType": "image/png"}],
    }


def glb_bytes(geometry: GLBGeometry, png: bytes, name: str = "avatar") -> bytes:
    """A complete GLB (glTF 2.0 binary) holding one textured triangle primitive."""
    writer = GLBWriter()
    return writer.to_bytes(textured_mesh_gltf(writer, geometry, png, name))


def save_glb(path: str | os.PathLike[str], vertices: Any, faces: Any, uvs: Any,
             uv_faces: Any | None, texture: Any, name: str = "avatar") -> Path:
    """Write a UV-textured mesh as a binary glTF 2.0 file, atomically.

    Args:
        path: output file (parent folders are created).
        vertices: (V, 3) float world positions (metres, Y up, facing +Z: glTF's frame).
        faces: (F, 3) int vertex indices, either winding (made outward, see module doc).
        uvs: (T, 2) float texture coordinates, v up (image row = (1 - v) * Ht).
        uv_faces: (F, 3) int indices into `uvs`; None = `uvs` indexed like `vertices`.
        texture: (Ht, Wt, 3) uint8, or float in [0, 1]; row 0 = top of the image.
        name: node / mesh name in the file.
    Numpy arrays or torch tensors are accepted.
    Returns:
        the path written. Raises ValueError on malformed inputs, OutputError when the file
        cannot be written.
    """
    geometry = split_uv_seams(vertices, faces, uvs, uv_faces)
    png = encode_png(texture_to_uint8(texture))
    return atomic_write_bytes(Path(path), glb_bytes(geometry, png, name))


# ---- reading back ----------------------------------------------------------------------------
@dataclass
class LoadedGLB:
    """A textured mesh read from a GLB, in our conventions.

    vertices (V, 3) float32, faces (F, 3) int64, uvs (V, 2) float32 v up (indexed like
    vertices), texture (Ht, Wt, 3) uint8 row 0 = top, normals (V, 3) float32 or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    texture: np.ndarray
    normals: np.ndarray | None = None

    def to_render_mesh(self):
        """As a `humanmv.render.Mesh` (float texture in [0, 1])."""
        import torch

        from humanmv.render.mesh import Mesh

        return Mesh(vertices=torch.from_numpy(self.vertices.copy()),
                    faces=torch.from_numpy(self.faces.copy()),
                    uvs=torch.from_numpy(self.uvs.copy()),
                    texture=torch.from_numpy(self.texture.astype(np.float32) / 255.0))


_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32,
               5126: np.float32}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_glb(path: str | os.PathLike[str]) -> tuple[dict, bytes]:
    """(glTF JSON dict, BIN chunk) of a GLB file; ValueError naming the file when the container
    is not a glTF 2.0 binary."""
    data = Path(path).read_bytes()
    if len(data) < 20 or data[:4] != _GLB_MAGIC:
        raise ValueError(f"{path}: not a GLB file (binary glTF)")
    _, version, length = struct.unpack_from("<4sII", data, 0)
    if version != _GLB_VERSION or length > len(data):
        raise ValueError(f"{path}: not a complete glTF 2.0 binary")
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    if json_type != _CHUNK_JSON:
        raise ValueError(f"{path}: the GLB's first chunk is not JSON")
    gltf = json.loads(data[20:20 + json_len])
    binary = b""
    start = 20 + json_len
    if start + 8 <= length:
        bin_len, bin_type = struct.unpack_from("<I4s", data, start)
        if bin_type == _CHUNK_BIN:
            binary = data[start + 8:start + 8 + bin_len]
    return gltf, binary


def read_accessor(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    """Accessor `index` as a (count, width) array (MAT4: (count, 4, 4), column-major as stored,
    so each [i] is the matrix itself); normalised integers become floats in [0, 1]."""
    acc = gltf["accessors"][index]
    dtype = np.dtype(_COMPONENTS[acc["componentType"]])
    width = _WIDTHS[acc["type"]]
    count = acc["count"]
    out = np.zeros((count, width), dtype)
    if "bufferView" in acc:
        view = gltf["bufferViews"][acc["bufferView"]]
        offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        stride = view.get("byteStride", width * dtype.itemsize)
        rows = np.lib.stride_tricks.as_strided(
            np.frombuffer(binary, np.uint8, count=len(binary) - offset, offset=offset),
            shape=(count, width * dtype.itemsize), strides=(stride, 1))
        out = np.ascontiguousarray(rows).view(dtype).reshape(count, width)
    if acc.get("normalized"):
        out = out.astype(np.float32) / np.iinfo(dtype).max
    if acc["type"] == "MAT4":
        out = out.reshape(count, 4, 4).transpose(0, 2, 1)
    return out


def load_glb_mesh(path: str | os.PathLike[str]) -> LoadedGLB:
    """Read a single-mesh textured GLB (e.g. one `save_glb` or `save_rigged_glb` wrote).

    Node transforms are applied; vertices are not merged (glTF's split vertices are kept). A
    skinned mesh comes posed as a viewer shows it with no animation playing (its joints' node
    transforms and its default morph weights): for a humanmv rig, the photo's pose, which is
    the avatar mesh. Raises ValueError when the file holds no mesh, several meshes, or no
    base-colour texture.
    """
    gltf, _ = read_glb(path)
    if gltf.get("skins"):
        return _load_skinned(path)
    import trimesh

    scene = trimesh.load(Path(path), file_type="glb", force="scene", process=False)
    nodes = list(scene.graph.nodes_geometry)
    if len(nodes) != 1:
        raise ValueError(f"{path}: expected exactly one mesh, found {len(nodes)}")
    transform, geometry_name = scene.graph[nodes[0]]
    mesh = scene.geometry[geometry_name]
    material = getattr(mesh.visual, "material", None)
    image = getattr(material, "baseColorTexture", None)
    if image is None:  # a SimpleMaterial (e.g. from KHR_materials_pbrSpecularGlossiness)
        image = getattr(material, "image", None)
    uv = getattr(mesh.visual, "uv", None)
    if image is None or uv is None or len(uv) != len(mesh.vertices):
        raise ValueError(f"{path}: the mesh has no UV-mapped base-colour texture")
    transform = np.asarray(transform, dtype=np.float64)
    vertices = np.asarray(mesh.vertices, np.float64) @ transform[:3, :3].T + transform[:3, 3]
    # trimesh keeps the file's NORMAL accessor in its cache (it recomputes them otherwise).
    normals = getattr(mesh, "_cache", None)
    normals = normals.cache.get("vertex_normals") if normals is not None else None
    if normals is not None:
        normals = np.asarray(normals, np.float64) @ np.linalg.inv(transform[:3, :3])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
        normals = normals.astype(np.float32)
    return LoadedGLB(
        vertices=vertices.astype(np.float32),
        faces=np.asarray(mesh.faces, dtype=np.int64),
        uvs=np.asarray(uv, dtype=np.float32)[:, :2],  # trimesh already flipped v back to up
        texture=np.asarray(image.convert("RGB"), dtype=np.uint8),
        normals=normals,
    )


def _load_skinned(path: str | os.PathLike[str]) -> LoadedGLB:
    import torch

    from humanmv.io.gltf_skin import load_rig
    from humanmv.rig.skinning import forward_kinematics, skin_vertices

    rig = load_rig(path)
    world = forward_kinematics(rig.parents, rig.pose_local[None])
    morph = torch.tensor([rig.pose_morph], dtype=torch.float64)
    vertices = skin_vertices(rig, world, morph, dtype=torch.float64)[0]
    faces = rig.faces.numpy()
    return LoadedGLB(vertices=vertices.float().numpy(), faces=faces.astype(np.int64),
                     uvs=rig.uvs.float().numpy(), texture=to_uint8(rig.texture.numpy()),
                     normals=_vertex_normals(vertices.numpy(), faces).astype(np.float32))
