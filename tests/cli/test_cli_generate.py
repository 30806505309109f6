"""`humanmv generate` end to end: its outputs, and every bad input a user can give it."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, examples_dir) -> Path:
    out = tmp_path_factory.mktemp("gen") / "astronaut"
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--views", "6",
               "--size", "128", "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    return out


def test_generate_writes_every_output(generated):
    names = [f"{i:03d}" for i in range(6)]
    for folder in ("views", "normals", "masks"):
        assert sorted(p.stem for p in (generated / folder).glob("*.png")) == names
    view = np.asarray(Image.open(generated / "views" / "000.png"))
    assert view.shape == (128, 128, 4)
    alpha = view[..., 3] > 0
    assert 0.05 < alpha.mean() < 0.9
    mask = np.asarray(Image.open(generated / "masks" / "000.png")) > 0
    assert (mask == alpha).mean() > 0.99
    cams = json.loads((generated / "cameras.json").read_text())
    assert len(cams) == 6 and cams[0]["az"] == 0 and cams[3]["az"] == 180
    transforms = json.loads((generated / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == [f"views/{n}.png" for n in names]
    assert (generated / "avatar.glb").read_bytes()[:4] == b"glTF"
    assert json.loads((generated / "avatar.json").read_text())["mode"] == "body"
    assert (generated / "turntable.mp4").stat().st_size > 1000
    assert Image.open(generated / "grid.png").size[0] > 128
    run_info = json.loads((generated / "run.json").read_text())
    assert run_info["generator"] == "prior" and run_info["seed"] == 0 and run_info["reconstruct"] == "none"
    assert {"fit", "texture", "generate"} <= set(run_info["timings_s"])


# -- every output, checked against the avatar and the cameras it claims to come from ----------
MATCH_MASK = 0.99  # share of pixels where a view's alpha equals a render's mask
MATCH_RGB = 0.01  # mean |colour difference| inside both masks, in [0, 1]


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.float32) / 255


@pytest.fixture(scope="module")
def outputs(generated, renderer):
    """The written views, normals and masks, and avatar.glb rendered at cameras.json's cameras."""
    from humanmv.cameras import Cameras
    from humanmv.io.glb import load_glb_mesh

    cams = Cameras.load(generated / "cameras.json")
    glb = load_glb_mesh(generated / "avatar.glb")
    render = renderer.render(glb.to_render_mesh(), cams, outputs=("mask", "rgb", "normal"))
    load = lambda folder: np.stack([_png(generated / folder / f"{n}.png") for n in cams.names])  # noqa: E731
    return {"cameras": cams, "glb": glb, "views": load("views"), "normals": load("normals"),
            "masks": load("masks"), "mask": render.mask.numpy() > 0.5, "rgb": render.rgb.numpy(),
            "normal": render.normal.numpy()}


def _match(view: np.ndarray, mask: np.ndarray, rgb: np.ndarray) -> tuple[float, float]:
    """(share of pixels where the view's alpha equals `mask`, mean colour difference inside both)."""
    alpha = view[..., 3] > 0.5
    both = alpha & mask
    return float((alpha == mask).mean()), float(np.abs(view[..., :3][both] - rgb[both]).mean())


def test_every_view_is_the_avatar_seen_by_its_own_camera(outputs):
    views, mask, rgb = outputs["views"], outputs["mask"], outputs["rgb"]
    C = len(outputs["cameras"])
    assert views.shape == (C, 128, 128, 4) and C == 6
    for i in range(C):
        agree, colour = _match(views[i], mask[i], rgb[i])
        assert agree > MATCH_MASK and colour < MATCH_RGB, (i, agree, colour)
        inside = (views[i][..., 3] > 0.5) & mask[i]
        assert np.percentile(np.abs(views[i][..., :3][inside] - rgb[i][inside]), 99) < 0.05, i
        for j in range(C):  # a shuffled set fails: view i is nobody else's render
            if j != i:
                agree, colour = _match(views[i], mask[j], rgb[j])
                assert not (agree > MATCH_MASK and colour < MATCH_RGB), (i, j, agree, colour)
        agree, colour = _match(views[i][:, ::-1], mask[i], rgb[i])  # nor is a mirrored view
        assert not (agree > MATCH_MASK and colour < MATCH_RGB), (i, agree, colour)


def test_normal_maps_are_unit_camera_facing_and_the_avatars(outputs):
    normals, views, render_mask, render_normal = (outputs[k] for k in ("normals", "views", "mask", "normal"))
    for i in range(len(outputs["cameras"])):
        inside = normals[i][..., 3] > 0.5
        assert np.array_equal(inside, views[i][..., 3] > 0.5), i  # alpha = the view's mask
        assert (normals[i][..., :3][~inside] == 0).all(), i
        n = 2 * normals[i][..., :3][inside] - 1
        length = np.linalg.norm(n, axis=1)
        assert np.abs(length - 1).max() < 0.02, (i, length.min(), length.max())  # 8-bit rounding only
        # OpenCV axes: the camera looks along +z, so surfaces it sees have n_z < 0 (all but a
        # few grazing pixels on the silhouette).
        assert (n[:, 2] < 0).mean() > 0.98 and n[:, 2].mean() < -0.5, i
        both = inside & render_mask[i]
        written = 2 * normals[i][..., :3][both] - 1
        cos = (written / np.linalg.norm(written, axis=1, keepdims=True) * render_normal[i][both]).sum(1)
        angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert both.sum() > 0.99 * inside.sum()
        assert np.median(angle) < 1.0 and angle.mean() < 2.0, (i, np.median(angle), angle.mean())


def test_masks_and_transforms_match_views_and_cameras(generated, outputs):
    from humanmv.cameras import Cameras

    cams, views = outputs["cameras"], outputs["views"]
    assert np.array_equal(outputs["masks"] > 0.5, views[..., 3] > 0.5)
    assert set(np.unique(outputs["masks"])) <= {0.0, 1.0}  # 0/255
    assert cams.names == [f"{i:03d}" for i in range(6)]
    assert np.allclose(cams.az.numpy(), [0, 60, 120, 180, 240, 300]) and np.allclose(cams.el.numpy(), 0)
    transforms = json.loads((generated / "transforms.json").read_text())
    assert transforms["camera_model"] == "OPENCV" and (transforms["w"], transforms["h"]) == (128, 128)
    opencv_to_opengl = np.diag([1.0, -1.0, -1.0, 1.0])  # x right, y up, z back
    focus = outputs["glb"].vertices.mean(0)
    for i, frame in enumerate(transforms["frames"]):
        c2w = np.array(frame["transform_matrix"])
        w2c = cams.world_to_cam[i].numpy()
        assert np.allclose(np.linalg.inv(c2w @ opencv_to_opengl), w2c, atol=1e-5), i
        K = cams.K[i].numpy()
        assert np.allclose([frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]],
                           [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]) and (frame["w"], frame["h"]) == (128, 128)
        # OpenGL axes, independently of the conversion: the camera looks along its -z at the
        # person, its +y is the world's up (elevation 0), and it sits at its orbit azimuth.
        towards = focus - c2w[:3, 3]
        assert np.dot(-c2w[:3, 2], towards / np.linalg.norm(towards)) > 0.99, i
        assert np.allclose(c2w[:3, 1], [0, 1, 0], atol=1e-5), i
        az = np.degrees(np.arctan2(-towards[0], -towards[2])) % 360
        assert abs((az - 60 * i + 180) % 360 - 180) < 2, (i, az)
    again = Cameras.from_json(json.loads((generated / "cameras.json").read_text()))
    assert torch.equal(again.world_to_cam, cams.world_to_cam)


def _nearest(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance from a point of `a` to its nearest point of `b`, and back."""
    from scipy.spatial import cKDTree

    return max(float(cKDTree(b).query(a)[0].max()), float(cKDTree(a).query(b)[0].max()))


def test_fit_json_gives_back_the_fitted_body_and_its_keypoints(generated, outputs, body, renderer, examples_dir):
    from humanmv.body.anny_model import BodyParams
    from humanmv.body.fitting import FitConfig
    from humanmv.cameras import Cameras
    from humanmv.io.images import load_image
    from humanmv.perception import Perceiver
    from humanmv.pipelines.checks import perception_options

    fit = json.loads((generated / "fit.json").read_text())
    assert fit["mode"] == "body" and (fit["image"]["width"], fit["image"]["height"]) == (512, 512)
    params = BodyParams.from_dict(fit["params"], body.expression_names)
    with torch.no_grad():
        fitted = body(params)
    # --reconstruct none: avatar.glb is the photo fit's body, which fit.json describes.
    assert _nearest(fitted.vertices[0].numpy(), outputs["glb"].vertices) < 1e-4
    camera = Cameras.from_json([fit["camera"]])
    assert (camera.width, camera.height) == (512, 512)
    pixels, depth = camera.project(fitted.keypoints[0])
    assert (depth > 0).all()
    photo = load_image(examples_dir / "astronaut.jpg")
    seen = Perceiver().perceive(photo.rgb, **perception_options("auto", photo.path.name))
    used = seen.coco_confidence >= FitConfig().min_confidence
    assert used.sum() >= 6
    error = np.linalg.norm(pixels[0].numpy() - seen.coco_xy, axis=1)[used]
    assert abs(error.mean() - fit["metrics"]["keypoint_error_px"]) < 0.05, (error.mean(), fit["metrics"])
    assert error.mean() < 0.03 * 512 and error.max() < 0.06 * 512  # near the photo's keypoints
    mask = renderer.render(body.mesh(fitted.vertices[0]), camera, outputs=("mask",)).mask[0].numpy() > 0.5
    person = seen.mask > 0.5
    iou = (mask & person).sum() / (mask | person).sum()
    assert abs(iou - fit["metrics"]["silhouette_iou"]) < 0.005, (iou, fit["metrics"])


def test_avatar_json_rebuilds_avatar_glb(generated, outputs, body):
    from humanmv.recon import read_avatar_json, rebuild_vertices

    avatar = read_avatar_json(generated / "avatar.json")
    glb = outputs["glb"]
    assert (avatar["format"], avatar["mode"], avatar["reconstruct"]) == ("humanmv.avatar", "body", "none")
    placement = avatar["placement"]
    assert np.allclose(placement["rotation"], np.eye(3)) and np.allclose(placement["translation"], 0)
    rebuilt = rebuild_vertices(body, avatar).numpy()
    assert avatar["mesh"] == {"file": "avatar.glb", "vertices": rebuilt.shape[0], "faces": len(glb.faces)}
    assert _nearest(rebuilt, glb.vertices) < 1e-5
    texture = np.asarray(Image.open(generated / "texture.png"))
    assert avatar["texture"] == {"file": "texture.png", "width": 512, "height": 512}
    assert np.array_equal(texture[..., :3], glb.texture)
    fit = json.loads((generated / "fit.json").read_text())
    for group in ("pose_axis_angle", "phenotype"):  # the prior's avatar is the photo's fit
        assert fit["params"][group].keys() == avatar["params"][group].keys()
        assert np.allclose(np.array(list(fit["params"][group].values())),
                           np.array(list(avatar["params"][group].values())), atol=1e-6), group


def test_run_json_records_the_run(generated):
    import platform

    import humanmv

    run_info = json.loads((generated / "run.json").read_text())
    assert (run_info["humanmv"], run_info["python"], run_info["torch"]) == (
        humanmv.__version__, platform.python_version(), torch.__version__)
    assert (run_info["generator"], run_info["options"], run_info["checkpoint"]) == ("prior", {}, None)
    assert (run_info["refine"], run_info["reconstruct"], run_info["mode"]) == ([], "none", "body")
    assert run_info["reconstruct_options"] == {"photo_trust": 16.0, "face_trust": 16.0, "sharpness": 2.0,
                                           "refit_iterations": 40, "surface_iterations": 80, "hue_sigma": 8.0,
                                           "hue_radius": 0.0}
    assert (run_info["seed"], run_info["views"], run_info["size"]) == (0, 6, [128, 128])
    assert run_info["image"].endswith("astronaut.jpg")
    timings = run_info["timings_s"]
    stages = {"fit", "texture", "generate", "reconstruct", "views", "cameras_grid", "glb", "turntable"}
    assert stages <= set(timings), sorted(timings)
    assert all(isinstance(v, (int, float)) and v >= 0 for v in timings.values()), timings
    assert timings["fit"] > 0 and timings["texture"] > 0  # measured, not left at zero


def test_cameras_json_round_trips_through_generate(generated, tmp_path, examples_dir):
    from humanmv.cameras import Cameras

    cams = Cameras.load(generated / "cameras.json")[[0, 2]]
    cams.save(tmp_path / "two.json")
    out = tmp_path / "custom"
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(out),
               "--cameras", str(tmp_path / "two.json"), "--texture-size", "512")
    assert proc.returncode == 0, proc.stderr
    again = Cameras.load(out / "cameras.json")
    assert again.names == ["000", "002"]
    assert np.allclose(again.world_to_cam.numpy(), cams.world_to_cam.numpy(), atol=1e-5)
    first = np.asarray(Image.open(out / "views" / "000.png")).astype(float)
    same = np.asarray(Image.open(generated / "views" / "000.png")).astype(float)
    assert np.abs(first - same).mean() < 2.0  # same seed, same camera, same pixels


def _bad_photos(tmp: Path, examples: Path) -> dict[str, Path]:
    (tmp / "bytes.jpg").write_bytes(b"\x00\x01not an image")
    (tmp / "zero.jpg").write_bytes(b"")
    (tmp / "dir.jpg").mkdir()
    data = (examples / "astronaut.jpg").read_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.new("RGB", (1, 1)).save(tmp / "one.png")
    Image.fromarray(np.full((300, 300, 3), 120, np.uint8)).save(tmp / "nobody.png")
    photo = np.asarray(Image.open(examples / "grace_hopper.jpg"))
    Image.fromarray(photo[40:330, 100:410]).save(tmp / "face_only.png")
    # A decompression bomb: the header claims 40000 x 40000 pixels.
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))  # noqa: E731
    (tmp / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return {p.stem: p for p in tmp.iterdir()}


BAD = {
    "missing": (["{tmp}/none.jpg"], "file not found"),
    "directory": (["{tmp}/dir.jpg"], "is a directory"),
    "non-image": (["{tmp}/bytes.jpg"], "is not an image"),
    "truncated": (["{tmp}/truncated.jpg"], "truncated"),
    "zero-bytes": (["{tmp}/zero.jpg"], "is empty"),
    "bomb": (["{tmp}/bomb.png"], "40000x40000"),
    "one-pixel": (["{tmp}/one.png"], "1x1"),
    "no-person": (["{tmp}/nobody.png"], "no person"),
    "face-only-in-body-mode": (["{tmp}/face_only.png", "--mode", "body"], "--mode head"),
    "views-0": (["{ex}/astronaut.jpg", "--views", "0"], "--views"),
    "views-10000": (["{ex}/astronaut.jpg", "--views", "10000"], "--views"),
    "size-7": (["{ex}/astronaut.jpg", "--size", "7"], "--size"),
    "bad-cameras": (["{ex}/astronaut.jpg", "--cameras", "{tmp}/bytes.jpg"], "not valid JSON"),
    "unknown-generator": (["{ex}/astronaut.jpg", "--generator", "magic"], "unknown --generator"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, examples_dir, case):
    _bad_photos(tmp_path, examples_dir)
    args, expected = BAD[case]
    args = [a.format(tmp=tmp_path, ex=examples_dir) for a in args]
    out = tmp_path / "out"
    proc = run("generate", args[0], "--out", str(out), *args[1:])
    assert proc.returncode == 2, (case, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], (case, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tmp*"))


def test_unwritable_and_existing_outputs(tmp_path, examples_dir):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(blocker / "sub"))
    assert proc.returncode == 2 and "choose another --out" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(existing))
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (existing / "keep.txt").read_text() == "mine"
