"""three.js (GLTFLoader + AnimationMixer, in headless Chromium) plays the rigged avatar.glb:
it finds the skin, Anny's bones, the clips and the morph target; a frame of "wave" it draws has
the silhouette our renderer draws of our torch skinning of that frame; and two times of the
wave differ where the right hand waves and match over the legs, which the wave keeps still."""

from __future__ import annotations

import base64
import io
import math
import os

import numpy as np
import pytest
import torch
from browser import CLIENTS, NODE_MODULES, require_client, static_server
from PIL import Image
from rigged_files import write_rigged_and_static

SIZE = 256
TIMES = (0.25, 0.75)  # the wave's forearm at +0.4 and -0.4 rad: the hand furthest apart


@pytest.fixture(scope="module")
def played(body, browser, tmp_path_factory):
    """three.js's view of the file and its frames of "wave" at TIMES, with our frames."""
    from humanmv.rig import animate_vertices
    from humanmv.rig.animate import AnimationConfig, animation_cameras

    require_client(NODE_MODULES / "three" / "build" / "three.module.js", "the npm package three")
    root = tmp_path_factory.mktemp("threejs")
    files = write_rigged_and_static(body, root)
    os.symlink(NODE_MODULES / "three", root / "three")
    (root / "player.html").write_text((CLIENTS / "threejs_player.html").read_text())
    rig = files["rig"]  # as built: Anny's vertex order, so body parts index it
    ours = animate_vertices(rig, rig.clips["wave"], torch.tensor(TIMES, dtype=torch.float64))
    cams = animation_cameras(ours.reshape(-1, 3), AnimationConfig(seconds=1, fps=1, size=SIZE))[0]
    # OpenCV world-to-camera -> three.js camera world matrix (x right, y up, looking down -z)
    c2w = torch.linalg.inv(cams.world_to_cam[0].double()) @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))
    fov = math.degrees(2 * math.atan(SIZE / 2 / float(cams.K[0, 1, 1])))
    frames = []
    with static_server(root) as url:
        page = browser.new_page(viewport={"width": SIZE, "height": SIZE})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/player.html?glb=rigged.glb&w={SIZE}&h={SIZE}")
        info = page.evaluate("window.player")
        for t in TIMES:
            data = page.evaluate("([c, t, m, f]) => window.renderAt(c, t, m, f)",
                                 ["wave", t, c2w.T.reshape(-1).tolist(), fov])
            png = base64.b64decode(data.split(",", 1)[1])
            frames.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
        assert not errors, errors
    return {"info": info, "frames": frames, "ours": ours, "cams": cams, "rig": rig}


def test_threejs_loads_the_skin_bones_clips_and_morph_target(played, body):
    info, rig = played["info"], played["rig"]
    assert info["skinned"] and info["boneNames"] == body.bone_names
    assert info["bones"] == [n.replace(".", "") for n in body.bone_names]  # three.js's object names
    assert info["clips"] == ["photo", "idle", "walk", "wave"]
    assert info["durations"][1:] == pytest.approx([rig.clips[n].duration for n in ("idle", "walk", "wave")], abs=1e-4)
    assert info["morphs"] == ["photo_offset"]


def test_threejs_draws_the_frame_our_skinning_computes(played, renderer):
    for i in range(len(TIMES)):
        theirs = played["frames"][i][..., 3] > 127
        mask = renderer.render(played["rig"].mesh(played["ours"][i]), played["cams"], outputs=("mask",)).mask[0].numpy() > 0.5
        iou = (theirs & mask).sum() / (theirs | mask).sum()
        assert iou > 0.97, (TIMES[i], iou)
    other = played["frames"][1][..., 3] > 127  # and not the other frame's silhouette as well
    first = renderer.render(played["rig"].mesh(played["ours"][0]), played["cams"], outputs=("mask",)).mask[0].numpy() > 0.5
    assert (other & first).sum() / (other | first).sum() < 0.99


def _box(points: torch.Tensor, cams, pad: int = 3) -> tuple[slice, slice]:
    pixels, _ = cams.project(points.float())
    lo = pixels[0].min(0).values.floor().int() - pad
    hi = pixels[0].max(0).values.ceil().int() + pad
    return slice(max(int(lo[1]), 0), int(hi[1])), slice(max(int(lo[0]), 0), int(hi[0]))


def test_two_wave_frames_differ_at_the_hand_and_match_over_the_legs(played, body):
    from humanmv.body.anny_model import PART_NAMES

    a, b = (f.astype(np.float32) / 255 for f in played["frames"])
    legs = torch.isin(body.vertex_parts, torch.tensor([PART_NAMES.index(n) for n in (
        "upper_leg.L", "lower_leg.L", "foot.L", "upper_leg.R", "lower_leg.R", "foot.R")]))
    hand = body.vertex_parts == PART_NAMES.index("hand.R")
    ours = played["ours"]
    rows, cols = _box(ours[:, legs].reshape(-1, 3), played["cams"])
    leg_change = np.abs(a[rows, cols] - b[rows, cols]).mean()
    rows, cols = _box(ours[:, hand].reshape(-1, 3), played["cams"])
    hand_change = np.abs(a[rows, cols] - b[rows, cols]).mean()
    assert a[..., 3].mean() > 0.05  # something was drawn
    assert leg_change < 1e-3 and hand_change > 0.1, (leg_change, hand_change)
