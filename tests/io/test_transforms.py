"""cameras.json / transforms.json: the transforms.json of a synthetic sphere scene puts pixels
where the cameras say (markers at known world points are found at the pixels the JSON's
intrinsics and OpenGL camera-to-world matrices project them to), also for views of different
sizes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from exporter_meshes import seamed_uv_sphere
from PIL import Image

from humanmv.cameras import Cameras, orbit_cameras
from humanmv.io.images import save_png
from humanmv.io.transforms import save_cameras_json, save_transforms_json
from humanmv.render import Mesh, Renderer

RADIUS = 0.5
MARKER_RADIUS = 0.07
# (azimuth, elevation) in degrees of each marker on the big sphere, and its colour.
MARKERS = [((30, 35), (255, 0, 0)), ((120, -30), (0, 255, 0)), ((215, 20), (0, 0, 255)),
           ((300, -40), (255, 0, 255)), ((-10, -25), (0, 255, 255))]
GREY = (128, 128, 128)


@pytest.fixture(scope="module")
def gl_renderer() -> Renderer:
    return Renderer()  # no GL here is a failure: every output of humanmv needs the renderer


def direction(az: float, el: float) -> np.ndarray:
    a, e = math.radians(az), math.radians(el)
    return np.array([math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])


def scene() -> tuple[Mesh, np.ndarray]:
    """A grey sphere with small coloured marker spheres centred on its surface; returns the
    mesh (vertex colours) and the (M, 3) marker centres."""
    parts, colours, centres = [], [], []
    v, f, _, _ = seamed_uv_sphere(RADIUS, 24, 48)
    parts.append((v, f))
    colours.append(np.tile(np.array(GREY) / 255, (len(v), 1)))
    for (az, el), rgb in MARKERS:
        centre = RADIUS * direction(az, el)
        v, f, _, _ = seamed_uv_sphere(MARKER_RADIUS, 8, 16, center=centre)
        parts.append((v, f))
        colours.append(np.tile(np.array(rgb) / 255, (len(v), 1)))
        centres.append(centre)
    offsets = np.cumsum([0] + [len(v) for v, _ in parts])
    vertices = np.concatenate([v for v, _ in parts])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets)])
    mesh = Mesh(torch.from_numpy(vertices).float(), torch.from_numpy(faces),
                vertex_colors=torch.from_numpy(np.concatenate(colours)).float())
    return mesh, np.array(centres)


# Views of a mixed rig: some larger than others (the subject stays where K puts it).
MIXED_SIZES = [(160, 120), (172, 126), (160, 120), (166, 131)]


def scene_cameras(mixed: bool = False) -> Cameras:
    cams = orbit_cameras([0, 90, 180, 270], [10, -5, 15, 0], distance=2.2, fov_deg=40,
                         width=160, height=120)
    # Make every intrinsic distinct, so a swapped fx/fy or cx/cy, or a flipped axis, shows.
    cams.K[:, 0, 0] *= 1.1
    cams.K[:, 0, 2] += 9.0
    cams.K[:, 1, 2] -= 6.0
    if mixed:
        cams = Cameras.with_sizes(cams.K, cams.world_to_cam, MIXED_SIZES, cams.names, cams.az, cams.el)
    return cams


@pytest.mark.parametrize("mixed", [False, True], ids=["one-size", "mixed-sizes"])
def test_transforms_json_puts_pixels_where_the_cameras_say(tmp_path: Path, gl_renderer: Renderer,
                                                           mixed: bool) -> None:
    mesh, centres = scene()
    cams = scene_cameras(mixed)
    rgb = gl_renderer.render(mesh, cams, outputs=("rgb",)).rgb
    names = []
    for i, (name, (w, h)) in enumerate(zip(cams.names, cams.sizes.tolist())):
        names.append(f"rgb/{name}.png")
        save_png(tmp_path / names[-1], rgb[i, :h, :w].numpy())  # the view's own image
    json_path = save_transforms_json(tmp_path / "transforms.json", cams, [Path(n) for n in names])

    data = json.loads(json_path.read_text())
    assert len(data["frames"]) == 4
    assert ("w" in data) == (not mixed)  # a top-level size only when every frame has it
    checked, seen_by, cameras_checked = 0, set(), set()
    for frame, (w, h) in zip(data["frames"], cams.sizes.tolist()):
        image = np.asarray(Image.open(json_path.parent / frame["file_path"]).convert("RGB"))
        assert image.shape == (frame["h"], frame["w"], 3) == (h, w, 3)
        c2w = np.array(frame["transform_matrix"])
        w2c = np.linalg.inv(c2w)
        eye = c2w[:3, 3]
        for k, centre in enumerate(centres):
            rgb_k = MARKERS[k][1]
            facing = direction(*MARKERS[k][0]) @ (eye - centre) / np.linalg.norm(eye - centre)
            x, y, z = w2c[:3, :3] @ centre + w2c[:3, 3]  # OpenGL camera axes: x right, y up, z back
            assert z < 0  # every marker is in front of every camera (hidden or not)
            u = frame["cx"] + frame["fl_x"] * x / -z
            v = frame["cy"] - frame["fl_y"] * y / -z
            if facing < 0.3:
                continue  # on the far side of the big sphere from this camera
            row, col = int(math.floor(v)), int(math.floor(u))
            assert 1 <= row < frame["h"] - 1 and 1 <= col < frame["w"] - 1
            patch = image[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3).astype(int)
            assert (np.abs(patch - rgb_k) <= 2).all(), (frame["file_path"], k, patch)
            # The same point with OpenCV's y-down sign would land elsewhere: the check has teeth.
            v_wrong = frame["cy"] + frame["fl_y"] * y / -z
            if abs(v_wrong - v) > 8:
                wrong = image[int(np.clip(v_wrong, 0, frame["h"] - 1)), col].astype(int)
                assert np.abs(wrong - rgb_k).max() > 60
            checked += 1
            seen_by.add(k)
            cameras_checked.add(frame["file_path"])
    assert checked >= 6 and seen_by == set(range(len(MARKERS))) and len(cameras_checked) == 4


@pytest.mark.parametrize("mixed", [False, True], ids=["one-size", "mixed-sizes"])
def test_cameras_json_round_trip(tmp_path: Path, mixed: bool) -> None:
    cams = scene_cameras(mixed)
    path = save_cameras_json(tmp_path / "out" / "cameras.json", cams)
    assert json.loads(path.read_text()) == cams.to_json()
    back = Cameras.load(path)
    torch.testing.assert_close(back.K, cams.K)
    torch.testing.assert_close(back.world_to_cam, cams.world_to_cam)
    assert back.names == cams.names and torch.equal(back.sizes, cams.sizes)
    assert (back.width, back.height) == ((172, 131) if mixed else (160, 120))
    assert sorted(p.name for p in path.parent.iterdir()) == ["cameras.json"]


def test_transforms_json_needs_one_image_per_camera(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one image per camera"):
        save_transforms_json(tmp_path / "transforms.json", scene_cameras(), ["a.png"])
    assert not any(tmp_path.iterdir())
