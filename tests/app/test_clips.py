"""Animation clips: their names read from a GLB, the copy that puts a chosen clip first (valid
for the Khronos glTF validator, binary chunk untouched), and the premise of the clip choice:
the page's viewer (gradio's Model3D) plays a file's first clip, in a real browser."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app_pages import GuardedPage, wait_viewer_drawn
from browser import NODE_MODULES, require_client
from conftest import free_port
from humanmv.app.clips import first_clip, glb_clip_names, glb_with_clip_first


def box_glb(path: Path, clips: tuple[str, ...]) -> Path:
    """A coloured 0.6 x 1.0 x 0.4 m box with node animations: "spin" turns it about +Y
    (a half turn a second), "bob" moves it up and down, "hold" keeps it as it is (keyframes of
    the identity rotation); `clips` says which, in file order."""
    v = np.array([[x, y, z] for x in (-.3, .3) for y in (-.5, .5) for z in (-.2, .2)], np.float32)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                  [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.uint32)
    colours = np.concatenate([(v - v.min(0)) / np.ptp(v, 0) * 0.8, np.ones((8, 1))], 1).astype(np.float32)
    t = np.linspace(0, 2, 9, dtype=np.float32)
    spin = np.stack([0 * t, np.sin(t * np.pi / 2), 0 * t, np.cos(t * np.pi / 2)], 1).astype(np.float32)
    bob = np.stack([0 * t, 0.3 * np.sin(t * np.pi), 0 * t], 1).astype(np.float32)
    hold = np.tile(np.array([0, 0, 0, 1], np.float32), (9, 1))
    blobs = [v, f, colours, t, spin, bob, hold]
    views, offset = [], 0
    for blob in blobs:
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": blob.nbytes})
        offset += blob.nbytes
    binary = b"".join(b.tobytes() for b in blobs)
    accessors = [
        {"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3",
         "min": v.min(0).tolist(), "max": v.max(0).tolist()},
        {"bufferView": 1, "componentType": 5125, "count": 36, "type": "SCALAR"},
        {"bufferView": 2, "componentType": 5126, "count": 8, "type": "VEC4"},
        {"bufferView": 3, "componentType": 5126, "count": 9, "type": "SCALAR", "min": [0.0], "max": [2.0]},
        {"bufferView": 4, "componentType": 5126, "count": 9, "type": "VEC4"},
        {"bufferView": 5, "componentType": 5126, "count": 9, "type": "VEC3"},
        {"bufferView": 6, "componentType": 5126, "count": 9, "type": "VEC4"}]
    animations = {
        "spin": {"name": "spin", "samplers": [{"input": 3, "output": 4}],
                 "channels": [{"sampler": 0, "target": {"node": 0, "path": "rotation"}}]},
        "bob": {"name": "bob", "samplers": [{"input": 3, "output": 5}],
                "channels": [{"sampler": 0, "target": {"node": 0, "path": "translation"}}]},
        "hold": {"name": "hold", "samplers": [{"input": 3, "output": 6}],
                 "channels": [{"sampler": 0, "target": {"node": 0, "path": "rotation"}}]}}
    gltf = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 2}, "indices": 1}]}],
            "buffers": [{"byteLength": len(binary)}], "bufferViews": views, "accessors": accessors}
    if clips:
        gltf["animations"] = [animations[c] for c in clips]
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(binary), b"BIN\0") + binary
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return path


def _validator_issues(path: Path) -> dict:
    """The Khronos glTF validator's report on `path` (numErrors, numWarnings, messages)."""
    require_client(NODE_MODULES / "gltf-validator", "the gltf-validator npm package")
    script = ("const v = require('gltf-validator'); const fs = require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r => console.log(JSON.stringify(r.issues)));")
    run = subprocess.run(["node", "-e", script, str(path)], capture_output=True, text=True, timeout=60,
                         cwd=NODE_MODULES.parent)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_clip_names_and_the_chosen_clip_first(tmp_path):
    src = box_glb(tmp_path / "box.glb", ("spin", "bob", "hold"))
    assert glb_clip_names(src) == ["spin", "bob", "hold"]
    assert glb_clip_names(box_glb(tmp_path / "still.glb", ())) == []
    dst = glb_with_clip_first(src, "bob", tmp_path / "bob.glb")
    assert glb_clip_names(dst) == ["bob", "spin", "hold"]
    # Only the JSON chunk changed: the binary chunk is byte for byte the same.
    def binary(path: Path) -> bytes:
        data = path.read_bytes()
        (size,) = struct.unpack_from("<I", data, 12)
        return data[20 + size:]
    assert binary(dst) == binary(src)
    issues = _validator_issues(dst)
    assert issues["numErrors"] == 0, issues["messages"][:5]
    assert first_clip(["photo", "idle", "walk"]) == "idle" and first_clip(["spin", "bob"]) == "spin"
    assert first_clip([]) is None
    with pytest.raises(ValueError, match="has no clip 'wave'"):
        glb_with_clip_first(src, "wave", tmp_path / "wave.glb")


def test_the_viewer_plays_the_first_clip_only(tmp_path, browser):
    """gradio's Model3D as the page builds it: a box whose first clip holds still and whose
    second spins stays still on screen; the copy with "spin" first keeps changing."""
    import gradio as gr

    from humanmv.app.server import avatar_viewer, theme

    files = {"hold": box_glb(tmp_path / "hold.glb", ("hold", "spin"))}
    files["spin"] = glb_with_clip_first(files["hold"], "spin", tmp_path / "spin.glb")
    with gr.Blocks(analytics_enabled=False) as demo:
        for name, path in files.items():
            avatar_viewer(str(path), elem_id=f"viewer-{name}", height=200)  # small: software WebGL
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False,
                quiet=True, theme=theme(), allowed_paths=[str(tmp_path)])
    page = GuardedPage(browser, viewport=(320, 640))
    changed = {}
    try:
        page.page.goto(f"http://127.0.0.1:{port}/")
        for name in files:
            selector = f"#viewer-{name} canvas"
            wait_viewer_drawn(page.page, selector, least=0.05)
            shots = []
            for _ in range(4):
                shots.append(page.page.locator(selector).screenshot())
                page.page.wait_for_timeout(250)
            changed[name] = [a != b for a, b in zip(shots, shots[1:])]
        # Still at the end (the viewer may still be framing the model at first) / moving throughout.
        assert not changed["hold"][-1] and all(changed["spin"]), changed
        assert not page.external, page.external
    finally:
        page.close()
        demo.close()
