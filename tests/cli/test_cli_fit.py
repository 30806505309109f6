"""`humanmv fit` end to end, as a user runs it: a new process, real files."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def photo_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def _huge_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A tiny file whose PNG header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "notimage.jpg").write_bytes(b"this is not an image")
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "adir").mkdir()
    _huge_png(tmp / "huge.png")
    Image.fromarray(np.full((320, 320, 3), 190, np.uint8)).save(tmp / "blank.png")
    return {
        "missing": (tmp / "missing.jpg", "file not found"),
        "directory": (tmp / "adir", "is a directory"),
        "non-image": (tmp / "notimage.jpg", "is not an image"),
        "empty": (tmp / "empty.png", "is empty"),
        "huge": (tmp / "huge.png", "30000x30000"),
        "person-less": (tmp / "blank.png", "no person found"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "non-image", "empty", "huge", "person-less"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    path, expected = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    proc = run("fit", str(path), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("humanmv: error:") and expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp leftovers


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, examples_dir) -> Path:
    """`humanmv fit` on the bundled astronaut photo, once for this module."""
    out = tmp_path_factory.mktemp("fit") / "fit"
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--size", "128")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def fitted_body(fitted, body):
    """The body fit.json describes, its vertices and the photo camera."""
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import Cameras

    summary = json.loads((fitted / "fit.json").read_text())
    params = BodyParams.from_dict(summary["params"], body.expression_names)
    with torch.no_grad():
        vertices = body(params).vertices[0]
    return summary, vertices, Cameras.from_json([summary["camera"]])


def _normal_map(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(inside (H, W) bool, decoded normals (H, W, 3)) of a fit normal map (background 0)."""
    image = np.asarray(Image.open(path)).astype(np.float32) / 255
    return image.max(-1) > 0, 2 * image - 1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_fit_writes_all_outputs_and_refuses_to_overwrite(fitted, examples_dir):
    out = fitted
    summary = json.loads((out / "fit.json").read_text())
    assert summary["mode"] == "body"
    assert summary["metrics"]["silhouette_iou"] > 0.6
    assert len(summary["camera"]["K"]) == 3 and len(summary["camera"]["world_to_camera"]) == 4
    # the photo has no EXIF focal length: the fit assumed its field of view, and says so
    intrinsics, (W, H) = summary["intrinsics"], photo_size(examples_dir / "astronaut.jpg")
    assert intrinsics["source"].startswith("assumed:fov_45")
    assert intrinsics["fx"] == pytest.approx(0.5 * max(W, H) / math.tan(math.radians(22.5)), abs=1e-3)
    assert [intrinsics[k] for k in ("fx", "fy", "cx", "cy")] == pytest.approx(
        [summary["camera"]["K"][0][0], summary["camera"]["K"][1][1], W / 2, H / 2], abs=1e-3)
    assert intrinsics["focal_35mm_equivalent"] == pytest.approx(
        intrinsics["fx"] * 43.2666 / math.hypot(W, H), abs=1e-2)
    assert set(summary["params"]) == {"pose_axis_angle", "phenotype", "expression"}
    overlay = np.asarray(Image.open(out / "overlay.png"))
    photo = np.asarray(Image.open(examples_dir / "astronaut.jpg"))
    assert overlay.shape == photo.shape and np.abs(overlay.astype(int) - photo).mean() > 2
    for view in ("front", "left", "back", "right"):
        normal = np.asarray(Image.open(out / "normals" / f"{view}.png"))
        assert normal.shape == (128, 128, 3) and (normal.sum(-1) > 0).mean() > 0.05
    again = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert json.loads((out / "fit.json").read_text()) == summary  # left as it was


def test_overlay_changes_the_photo_exactly_where_the_fit_covers_it(fitted, fitted_body, body, renderer,
                                                                   examples_dir):
    summary, vertices, camera = fitted_body
    covered = renderer.render(body.mesh(vertices), camera, outputs=("mask",)).mask[0].numpy() > 0.5
    photo = np.asarray(Image.open(examples_dir / "astronaut.jpg")).astype(int)
    overlay = np.asarray(Image.open(fitted / "overlay.png")).astype(int)
    changed = np.abs(overlay - photo).max(-1) > 0
    assert 0.1 < covered.mean() < 0.9
    assert (~changed[~covered]).mean() > 0.999  # the photo itself where the mesh is not
    assert changed[covered].mean() > 0.99  # tinted wherever it is
    assert _iou(changed, covered) > 0.99
    # the tint is bluish: blue gains on red where the mesh covers the photo
    tint = (overlay - photo)[covered]
    assert (tint[:, 2] - tint[:, 0]).mean() > 5


def test_normal_maps_are_the_fit_seen_from_four_sides(fitted, fitted_body, body, renderer):
    from humanmv.cameras import Cameras

    summary, vertices, _ = fitted_body
    cams = Cameras.from_json(summary["normal_cameras"])
    assert cams.names == ["front", "left", "back", "right"]
    assert np.allclose(cams.az.numpy(), [0, 90, 180, 270])
    centre = ((vertices.min(0).values + vertices.max(0).values) / 2).numpy()
    seen_from = cams.centers.numpy() - centre  # where each camera stands, round the body
    az = np.degrees(np.arctan2(seen_from[:, 0], seen_from[:, 2]))
    assert np.abs((az - [0, 90, 180, 270] + 180) % 360 - 180).max() < 1, az
    render = renderer.render(body.mesh(vertices), cams, outputs=("mask", "normal"))
    silhouettes = {}
    for i, name in enumerate(cams.names):
        inside, n = _normal_map(fitted / "normals" / f"{name}.png")
        silhouettes[name] = inside
        length = np.linalg.norm(n[inside], axis=1)
        assert np.abs(length - 1).max() < 0.02, (name, length.min(), length.max())
        assert (n[inside][:, 2] < 0).mean() > 0.98 and n[inside][:, 2].mean() < -0.5, name  # facing the camera
        assert (inside == (render.mask[i].numpy() > 0.5)).mean() > 0.99, name
        cos = (n[inside] / np.linalg.norm(n[inside], axis=1, keepdims=True) * render.normal[i].numpy()[inside]).sum(1)
        assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 1.0, name
    # opposite views see mirrored silhouettes; neighbouring views do not
    mirror = lambda a, b: _iou(silhouettes[a], silhouettes[b][:, ::-1])  # noqa: E731
    assert mirror("left", "right") > 0.75 and mirror("front", "back") > 0.85
    assert mirror("left", "right") > _iou(silhouettes["left"], silhouettes["right"]) + 0.1
    # (the legs the photo does not show are straight and neutral: only the arms break the symmetry)
    assert mirror("front", "back") > _iou(silhouettes["front"], silhouettes["back"]) + 0.15
    assert max(mirror("front", "left"), mirror("front", "right"), mirror("back", "left")) < 0.6


def test_head_mode_on_a_portrait(tmp_path, examples_dir):
    out = tmp_path / "head"
    proc = run("fit", str(examples_dir / "grace_hopper.jpg"), "--out", str(out), "--mode", "head",
               "--size", "96")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "fit.json").read_text())
    assert summary["mode"] == "head"
    assert summary["metrics"]["landmark_error_face_box"] < 0.05
    for view in ("front", "left", "back", "right"):  # a portrait seen from four sides
        inside, n = _normal_map(out / "normals" / f"{view}.png")
        ys, xs = np.nonzero(inside)
        assert inside.shape == (96, 96) and inside.mean() > 0.15, (view, inside.mean())
        assert ys.max() - ys.min() + 1 > 0.6 * 96, view  # head to shoulders
        assert not inside[0].any() and inside[-1].any(), view  # the top of the head in, the shoulders run off
        assert np.abs(np.linalg.norm(n[inside], axis=1) - 1).max() < 0.02 and (n[inside][:, 2] < 0).mean() > 0.98


def test_usage_errors_exit_2(tmp_path, examples_dir):
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--mode", "legs")
    assert proc.returncode == 2 and "--mode must be auto, body or head" in proc.stderr
    proc = run("fit", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "o"), "--size", "7")
    assert proc.returncode == 2 and "--size" in proc.stderr
    proc = run("fit")  # click's own usage errors are one line too
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "humanmv: error: Missing argument 'image'. (see humanmv --help)"]


# -- the photo's intrinsics: EXIF, --focal-mm, --intrinsics -------------------------------------
SYNTH_SIZE = (384, 512)  # portrait: a 45-degree field of view across its long side is far off 60 deg across it
SYNTH_FOV = 60.0  # vertical field of view of the camera the synthetic photo is rendered with


def _exif_35mm(focal_35mm: int) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = focal_35mm  # FocalLengthIn35mmFilm
    return exif


def _synthetic_photo(body, renderer, path: Path) -> float:
    """A textured, shaded Anny body on a grey gradient, seen by a camera of SYNTH_FOV, written
    as a JPEG whose EXIF FocalLengthIn35mmFilm is that camera's (rounded to the mm, as EXIF
    stores it); returns the camera's true focal length in pixels."""
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import orbit_cameras_around
    from humanmv.data.appearance import UVAtlas, paint_texture, shade
    from humanmv.data.engine import SubjectSampler, sample_pose

    W, H = SYNTH_SIZE
    spec = SubjectSampler(body)(3)
    params = BodyParams(sample_pose(np.random.default_rng(0), "standing")[None], spec.params.phenotype,
                        spec.params.expression)
    with torch.no_grad():
        verts = body(params).vertices[0]
    cam = orbit_cameras_around(verts, [15.0], 5.0, fov_deg=SYNTH_FOV, width=W, height=H, margin=1.05)
    texture = paint_texture(UVAtlas(body, 256), spec.appearance, np.random.default_rng(1))
    out = renderer.render(body.mesh(verts, texture=texture), cam, outputs=("rgb", "mask", "normal"))
    rgb = shade(out.rgb, out.normal, cam.world_to_cam, out.mask, spec.appearance)[0]
    mask = out.mask[0][..., None]
    background = torch.linspace(0.75, 0.55, H)[:, None, None].expand(H, W, 3)
    pixels = ((rgb * mask + background * (1 - mask)).clamp(0, 1) * 255).round().byte().numpy()
    true_f = float(cam.K[0, 0, 0])
    assert float(cam.K[0, 1, 1]) == pytest.approx(true_f) and true_f == pytest.approx(0.5 * H / math.tan(math.radians(30)))
    Image.fromarray(pixels).save(path, quality=95, exif=_exif_35mm(round(true_f * 43.2666 / math.hypot(W, H))))
    return true_f


def test_fit_uses_the_exif_focal_length(tmp_path, body, renderer):
    """Acceptance: a photo with a known camera and its EXIF FocalLengthIn35mmFilm is fitted
    with that camera's focal length (within 5%), and fit.json says where it came from."""
    photo = tmp_path / "synthetic.jpg"
    true_f = _synthetic_photo(body, renderer, photo)
    out = tmp_path / "fit"
    proc = run("fit", str(photo), "--out", str(out), "--size", "64", "--mode", "body")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "fit.json").read_text())
    intrinsics, K = summary["intrinsics"], summary["camera"]["K"]
    assert intrinsics["source"] == "exif:FocalLengthIn35mmFilm"
    assert abs(K[0][0] / true_f - 1) < 0.05 and abs(K[1][1] / true_f - 1) < 0.05, (K, true_f)
    assert intrinsics["fx"] == pytest.approx(K[0][0], abs=1e-3) and (intrinsics["cx"], intrinsics["cy"]) == (192, 256)
    assert intrinsics["focal_35mm_equivalent"] == pytest.approx(30, abs=1e-3)  # 443.4 px * 43.2666 / 640
    assumed = 0.5 * max(SYNTH_SIZE) / math.tan(math.radians(22.5))
    assert abs(assumed / true_f - 1) > 0.3, "the default field of view would have been far off"
    assert summary["metrics"]["silhouette_iou"] > 0.7, "and the body fits the photo through that camera"


def test_focal_mm_overrides_exif_and_intrinsics_overrides_both(tmp_path, examples_dir, monkeypatch):
    """The CLI's flags reach the fit (a stand-in pipeline resolves what the fit would use)."""
    import humanmv.perception.background as background
    import humanmv.pipelines.fitting as fitting
    from humanmv.body.photo_intrinsics import resolve_intrinsics
    from humanmv.cli import main
    from humanmv.errors import HumanMVError

    class Stop(HumanMVError):
        pass

    class Perceiving:  # no child process: the stand-in pipeline needs no perception
        def __init__(self, rgb, **kwargs): pass
        def __enter__(self): return self
        def __exit__(self, *exc): return None
        def result(self): return None

    resolved = []

    class Pipeline:
        def __init__(self, lifter):
            assert lifter == "shipped"

        def __call__(self, photo, mode, seed, perception, focal_mm, K):
            resolved.append(resolve_intrinsics(photo.width, photo.height, focal_mm=focal_mm, K=K,
                                               exif=photo.exif_focal))
            raise Stop("stand-in pipeline")

    monkeypatch.setattr(background, "BackgroundPerception", Perceiving)
    monkeypatch.setattr(fitting, "FitPipeline", Pipeline)
    photo = tmp_path / "exif.jpg"
    Image.open(examples_dir / "astronaut.jpg").save(photo, quality=95, exif=_exif_35mm(26))
    W, H = photo_size(photo)
    (tmp_path / "K.json").write_text(json.dumps({"fx": 700, "fy": 710, "cx": W / 2 + 3, "cy": H / 2 - 4}))
    for flags in ([], ["--focal-mm", "50"], ["--focal-mm", "50", "--intrinsics", str(tmp_path / "K.json")],
                  ["--intrinsics", "800,810,100,120"]):
        with pytest.raises(SystemExit) as done:
            main(["fit", str(photo), "--out", str(tmp_path / "out"), "--quiet", *flags])
        assert done.value.code == 2
    exif, focal, file_K, text_K = resolved
    assert exif.source == "exif:FocalLengthIn35mmFilm"
    assert float(exif.K[0, 0]) == pytest.approx(26 * math.hypot(W, H) / 43.2666, rel=1e-5)
    assert focal.source == "focal-mm" and float(focal.K[0, 0]) == pytest.approx(50 * math.hypot(W, H) / 43.2666, rel=1e-5)
    assert file_K.source == "K" and file_K.K.tolist() == [[700, 0, W / 2 + 3], [0, 710, H / 2 - 4], [0, 0, 1]]
    assert text_K.source == "K" and text_K.K.tolist() == [[800, 0, 100], [0, 810, 120], [0, 0, 1]]
    assert not (tmp_path / "out").exists()


def test_fit_pipeline_gives_the_resolved_K_to_body_and_head_fits(monkeypatch):
    import humanmv.pipelines.fitting as fitting
    from humanmv.body.fitting import FitConfig
    from humanmv.body.head_fitting import HeadFitConfig
    from humanmv.io.exif import ExifFocal
    from humanmv.io.images import LoadedImage

    class Captured(Exception):
        pass

    targets = []

    def fake_fit(body, found, *args, **kwargs):
        targets.append(found)
        raise Captured

    monkeypatch.setattr(fitting, "fit_body", fake_fit)
    monkeypatch.setattr(fitting, "fit_head", fake_fit)
    pipe = object.__new__(fitting.FitPipeline)  # no models: the fits are stand-ins
    pipe.body = pipe.landmark_map = pipe.lifter = None
    pipe.body_config, pipe.head_config = FitConfig(), HeadFitConfig()
    W, H = SYNTH_SIZE
    perception = SimpleNamespace(coco_xy=np.zeros((17, 2)), coco_confidence=np.ones(17), mask=np.zeros((H, W)),
                                 face=SimpleNamespace(xy=np.zeros((478, 2))))
    rgb = np.zeros((H, W, 3), np.uint8)
    with_exif = LoadedImage(rgb, None, Path("exif.jpg"), exif_focal=ExifFocal(focal_length_35mm=30.0))
    K = torch.tensor([[500.0, 0, 190], [0, 505, 250], [0, 0, 1]])
    for mode in ("body", "head"):
        cases = [(with_exif, {}, "exif:FocalLengthIn35mmFilm", 443.7603),
                 (with_exif, {"focal_mm": 50}, "focal-mm", 739.6005),
                 (with_exif, {"focal_mm": 50, "K": K}, "K", 500.0)]
        for image, kwargs, source, fx in cases:
            with pytest.raises(Captured):
                pipe(image, mode=mode, perception=perception, **kwargs)
            assert targets[-1].K_source == source and float(targets[-1].K[0, 0]) == pytest.approx(fx, rel=1e-5), (mode, source)
        with pytest.raises(Captured):
            pipe(LoadedImage(rgb, None, Path("plain.jpg")), mode=mode, perception=perception)
        assert targets[-1].K is None and targets[-1].K_source is None, "no EXIF: the fit's assumed field of view"


@pytest.mark.parametrize("flags, expected", [
    (["--intrinsics", "1200,1190,640"], "--intrinsics '1200,1190,640': neither 4 comma-separated numbers"),
    (["--intrinsics", "missing.json"], "no such file"),
    (["--intrinsics", "500,500,5000,5000"], "lies outside the"),
    (["--focal-mm", "-26"], "--focal-mm must be the 35-mm-equivalent focal length"),
    (["--focal-mm", "wide"], "Invalid value for '--focal-mm'"),
])
@pytest.mark.parametrize("command", ["fit", "generate"])
def test_bad_camera_flags_are_one_line_and_exit_2(tmp_path, examples_dir, command, flags, expected):
    out = tmp_path / "out"
    proc = run(command, str(examples_dir / "astronaut.jpg"), "--out", str(out), *flags, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("humanmv: error:") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and not out.exists()
    assert list(tmp_path.iterdir()) == [], "nothing written"
