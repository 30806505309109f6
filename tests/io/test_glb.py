"""save_glb / load_glb_mesh: a seamed, quadrant-textured UV sphere survives the round trip
through an independent reader (trimesh), the file follows glTF's conventions, and the reloaded
mesh renders like the original."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from exporter_meshes import QUADRANT_COLORS, quadrant_texture, seamed_uv_sphere
from PIL import Image

from humanmv.cameras import orbit_cameras
from humanmv.io.glb import load_glb_mesh, save_glb
from humanmv.render import Mesh, Renderer


@pytest.fixture(scope="module")
def gl_renderer() -> Renderer:
    return Renderer()  # no GL here is a failure: every output of humanmv needs the renderer


@pytest.fixture
def sphere():
    return seamed_uv_sphere()


@pytest.fixture
def texture() -> np.ndarray:
    return quadrant_texture()


def read_glb(path: Path) -> tuple[dict, bytes]:
    """(JSON dict, BIN chunk) of a GLB, checking the container's framing."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON" and json_len % 4 == 0
    gltf = json.loads(data[20:20 + json_len])
    bin_len, bin_type = struct.unpack_from("<I4s", data, 20 + json_len)
    assert bin_type == b"BIN\x00" and bin_len == gltf["buffers"][0]["byteLength"]
    start = 28 + json_len
    return gltf, data[start:start + bin_len]


def accessor(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5125: np.uint32}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    raw = binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]
    return np.frombuffer(raw, dtype=dtype).reshape(acc["count"], width)


def test_round_trip_through_trimesh(tmp_path: Path, sphere, texture) -> None:
    v, f, t, tf = sphere
    path = save_glb(tmp_path / "avatar.glb", v, f, t, tf, texture)
    assert path == tmp_path / "avatar.glb"
    assert path.read_bytes()[:4] == b"glTF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avatar.glb"]  # no temp files left

    scene = trimesh.load(path, force="scene", process=False)
    (mesh,) = scene.geometry.values()
    assert len(mesh.faces) == len(f)
    # Split along the seam: one glTF vertex per distinct (vertex, uv) corner pair.
    assert len(mesh.vertices) == len(np.unique(f * len(t) + tf)) > len(v)
    np.testing.assert_array_equal(np.unique(np.asarray(mesh.vertices, np.float32), axis=0),
                                  np.unique(v, axis=0))
    # Per face corner: same positions, same (v-up) texture coordinates.
    np.testing.assert_array_equal(np.asarray(mesh.vertices, np.float32)[mesh.faces], v[f])
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], t[tf], atol=1e-6)
    image = mesh.visual.material.baseColorTexture
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), texture)

    loaded = load_glb_mesh(path)
    np.testing.assert_array_equal(loaded.vertices[loaded.faces], v[f])
    np.testing.assert_allclose(loaded.uvs[loaded.faces], t[tf], atol=1e-6)
    np.testing.assert_array_equal(loaded.texture, texture)
    # Normals point out of the sphere, and agree across the seam (computed before splitting).
    radial = loaded.vertices / np.linalg.norm(loaded.vertices, axis=1, keepdims=True)
    assert (np.einsum("ij,ij->i", loaded.normals, radial) > 0.99).all()


def test_file_follows_gltf_conventions(tmp_path: Path, sphere, texture) -> None:
    v, f, t, tf = sphere
    gltf, binary = read_glb(save_glb(tmp_path / "a.glb", v, f, t, tf, texture))
    (prim,) = gltf["meshes"][0]["primitives"]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}
    position = gltf["accessors"][prim["attributes"]["POSITION"]]
    assert "min" in position and "max" in position
    (material,) = gltf["materials"]
    pbr = material["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == pytest.approx(0.8)
    assert pbr["baseColorTexture"]["index"] == 0 and material["doubleSided"] is False
    image = gltf["images"][gltf["textures"][0]["source"]]
    assert image["mimeType"] == "image/png"
    view = gltf["bufferViews"][image["bufferView"]]
    png = binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), texture)

    # Read the way a viewer does (UV origin at the image's top-left): the northern hemisphere
    # samples the top half of the image (red for u < 0.5, green for u > 0.5), the south the
    # bottom half (blue, yellow).
    pos = accessor(gltf, binary, prim["attributes"]["POSITION"])
    uv = accessor(gltf, binary, prim["attributes"]["TEXCOORD_0"])
    H, W = texture.shape[:2]
    rows = np.clip((uv[:, 1] * H).astype(int), 0, H - 1)
    cols = np.clip((uv[:, 0] * W).astype(int), 0, W - 1)
    sampled = texture[rows, cols]
    for north in (True, False):
        for left in (True, False):
            lo = 0.05 if left else 0.55
            hemisphere = (pos[:, 1] > 0.1) if north else (pos[:, 1] < -0.1)
            sel = hemisphere & (uv[:, 0] > lo) & (uv[:, 0] < lo + 0.4)
            assert sel.sum() > 10
            assert (sampled[sel] == QUADRANT_COLORS[north, left]).all()

    # Triangles wind counter-clockwise seen from outside (viewers cull the other side).
    faces = accessor(gltf, binary, prim["indices"]).reshape(-1, 3)
    a, b, c = (pos[faces[:, k]].astype(np.float64) for k in range(3))
    outward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c)
    assert (outward > 0).all()


def test_reloaded_mesh_renders_like_the_original(tmp_path: Path, sphere, texture,
                                                 gl_renderer: Renderer) -> None:
    v, f, t, tf = sphere
    original = Mesh(torch.from_numpy(v), torch.from_numpy(f), uvs=torch.from_numpy(t),
                    uv_faces=torch.from_numpy(tf),
                    texture=torch.from_numpy(texture / 255.0).float())
    reloaded = load_glb_mesh(save_glb(tmp_path / "a.glb", v, f, t, tf, texture)).to_render_mesh()
    cams = orbit_cameras([0, 90, 180, 270], [20, -20, 30, 0], distance=2.0, fov_deg=40,
                         width=96, height=96)
    a = gl_renderer.render(original, cams, outputs=("mask", "rgb"))
    b = gl_renderer.render(reloaded, cams, outputs=("mask", "rgb"))
    assert a.mask.sum() > 0.2 * a.mask.numel()
    assert (a.mask != b.mask).float().mean() < 1e-3
    diff = (a.rgb - b.rgb).abs().amax(-1)
    assert diff.mean() < 1e-3 and (diff > 0.02).float().mean() < 2e-3

    # Not a trivial match: the front view shows the top of the texture (red, green) above the
    # equator and its bottom (blue, yellow) below.
    front = (b.rgb[0] * 255).round().numpy().astype(int)
    centre = 48

    def colours(region: np.ndarray) -> set:
        return {tuple(c) for c in region.reshape(-1, 3)}

    assert colours(front[centre - 30:centre - 5, 30:66]) >= {(255, 0, 0), (0, 255, 0)}
    assert colours(front[centre + 10:centre + 30, 30:66]) >= {(0, 0, 255), (255, 255, 0)}
    assert not colours(front[centre - 30:centre - 5, 30:66]) & {(0, 0, 255), (255, 255, 0)}


def test_inward_winding_is_made_outward(tmp_path: Path, sphere, texture) -> None:
    v, f, t, tf = sphere
    loaded = load_glb_mesh(save_glb(tmp_path / "a.glb", v, f[:, [0, 2, 1]], t, tf[:, [0, 2, 1]],
                                    texture))
    np.testing.assert_array_equal(loaded.vertices[loaded.faces], v[f])  # the outward order
    np.testing.assert_allclose(loaded.uvs[loaded.faces], t[tf], atol=1e-6)


def test_torch_float_inputs_and_per_vertex_uvs(tmp_path: Path, sphere, texture) -> None:
    v, f, t, tf = sphere
    a = save_glb(tmp_path / "a.glb", v, f, t, tf, texture)
    b = save_glb(tmp_path / "b.glb", torch.from_numpy(v), torch.from_numpy(f),
                 torch.from_numpy(t), torch.from_numpy(tf), torch.from_numpy(texture / 255.0))
    assert a.read_bytes() == b.read_bytes()

    # uv_faces=None: uvs indexed like vertices (a quad facing +Z, uv (0,0) at bottom-left).
    quad = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)
    loaded = load_glb_mesh(save_glb(tmp_path / "q.glb", quad, np.array([[0, 1, 2], [0, 2, 3]]),
                                    (quad[:, :2] + 1) / 2, None, texture))
    assert loaded.faces.shape == (2, 3) and loaded.vertices.shape == (4, 3)
    np.testing.assert_allclose(loaded.uvs, (loaded.vertices[:, :2] + 1) / 2, atol=1e-6)
    np.testing.assert_allclose(loaded.normals, np.tile([0, 0, 1], (4, 1)), atol=1e-6)


@pytest.mark.parametrize("bad", ["face_index", "uv_index", "texture_shape", "uv_faces_shape",
                                 "nan_vertex"])
def test_malformed_inputs_are_refused(tmp_path: Path, sphere, texture, bad: str) -> None:
    v, f, t, tf = (x.copy() for x in sphere)
    tex = texture
    if bad == "face_index":
        f[0, 0] = len(v)
    elif bad == "uv_index":
        tf[0, 0] = -1
    elif bad == "texture_shape":
        tex = texture[..., :2]
    elif bad == "uv_faces_shape":
        tf = tf[:-1]
    else:
        v[3, 1] = np.nan
    with pytest.raises(ValueError):
        save_glb(tmp_path / "a.glb", v, f, t, tf, tex)
    assert not any(tmp_path.iterdir())
