"""Scan import: textured meshes exported with trimesh (OBJ+MTL+JPEG in THuman2.1's layout, a
coloured PLY, a GLB), in centimetres with Z up and the front along -Y, are read, normalised and
rendered to the same pixels as the engine renders the original mesh."""

import io
import json
import os

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from humanmv.body.anny_model import BodyParams
from humanmv.data import scans as scans_module
from humanmv.data.format import read_subject
from humanmv.data.dataset import MultiViewDataset
from humanmv.data.scans import (find_scans, import_scans, load_scan, normalise_scan,
                                scan_cameras)
from humanmv.errors import ConfigError, InputImageError, OutputError
from humanmv.render import Mesh

VIEWS, SIZE = 6, 128


def _to_source(points: np.ndarray) -> np.ndarray:
    """World (metres, Y up, facing +Z) -> the scans' frame: centimetres, Z up, facing -Y."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return 100.0 * np.stack([x, -z, y], axis=1)


def _texture(size: int = 128) -> np.ndarray:
    """uint8 texture whose colour changes along both axes (a flip or shift shows)."""
    r = np.linspace(0, 255, size)[None, :].repeat(size, 0)
    g = np.linspace(0, 255, size)[:, None].repeat(size, 1)
    checker = ((np.arange(size)[:, None] // 16 + np.arange(size)[None, :] // 16) % 2) * 120 + 60
    return np.stack([r, g, checker], -1).round().astype(np.uint8)


@pytest.fixture(scope="module")
def person(body):
    """The Anny body centred at the origin (metres, Y up), a texture and vertex colours."""
    verts = body(BodyParams.neutral()).vertices[0].detach().double()
    verts = verts - (verts.min(0).values + verts.max(0).values) / 2
    tex = _texture()
    colours = np.round((verts - verts.min(0).values).numpy() / (verts.max(0).values - verts.min(0).values).numpy()
                       * 255) / 255
    return {"vertices": verts.float().numpy(), "faces": body.faces.numpy(), "uvs": body.uvs.numpy(),
            "uv_faces": body.uv_faces.numpy(), "texture": tex, "colours": colours.astype(np.float32)}


def _textured_trimesh(person, image: Image.Image) -> trimesh.Trimesh:
    """One vertex per (position, uv) pair, as OBJ/GLB store them."""
    pairs = np.stack([person["faces"].reshape(-1), person["uv_faces"].reshape(-1)], 1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    mesh = trimesh.Trimesh(_to_source(person["vertices"][unique[:, 0]].astype(np.float64)),
                           inverse.reshape(-1, 3), process=False)
    mesh.visual = trimesh.visual.TextureVisuals(uv=person["uvs"][unique[:, 1]], image=image)
    return mesh


def _image(array: np.ndarray, fmt: str) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **({"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}))
    buf.seek(0)
    return Image.open(buf)


@pytest.fixture(scope="module")
def scans_dir(tmp_path_factory, person):
    """THuman2.1-like 0000/0000.obj + material0.mtl + material0.jpeg; 2K2K-like 2k2k/0001/0001.ply
    with vertex colours; a top-level avatar.glb."""
    root = tmp_path_factory.mktemp("scans")
    (root / "0000").mkdir()
    obj = _textured_trimesh(person, _image(person["texture"], "JPEG"))
    obj.visual.material.name = "material0"
    text, files = trimesh.exchange.obj.export_obj(obj, return_texture=True, mtl_name="material0.mtl")
    (root / "0000" / "0000.obj").write_text(text)
    for name, data in files.items():
        (root / "0000" / name).write_bytes(data)
    assert (root / "0000" / "material0.jpeg").is_file()

    (root / "2k2k" / "0001").mkdir(parents=True)
    ply = trimesh.Trimesh(_to_source(person["vertices"].astype(np.float64)), person["faces"], process=False,
                          vertex_colors=np.round(person["colours"] * 255).astype(np.uint8))
    ply.export(root / "2k2k" / "0001" / "0001.ply")

    _textured_trimesh(person, _image(person["texture"], "PNG")).export(root / "avatar.glb")
    return root


@pytest.fixture(scope="module")
def imported(tmp_path_factory, scans_dir, renderer):
    out = tmp_path_factory.mktemp("imported") / "subjects"
    report = import_scans(scans_dir, out, views=VIEWS, size=SIZE, up="+z", front="-y", renderer=renderer)
    return out, report


def _direct_mesh(person, kind: str, scans_dir) -> Mesh:
    """The original mesh (metres, Y up) with the colours its file holds (the OBJ's JPEG as
    trimesh re-encoded it)."""
    base = dict(vertices=torch.from_numpy(person["vertices"]), faces=torch.from_numpy(person["faces"]))
    if kind == "ply":
        return Mesh(**base, vertex_colors=torch.from_numpy(person["colours"]))
    texture = person["texture"]
    if kind == "obj":
        texture = np.asarray(Image.open(scans_dir / "0000" / "material0.jpeg").convert("RGB"))
    return Mesh(**base, uvs=torch.from_numpy(person["uvs"]), uv_faces=torch.from_numpy(person["uv_faces"]),
                texture=torch.from_numpy(texture.astype(np.float32) / 255))


def test_import_renders_the_same_pixels_as_the_engine(imported, person, renderer, scans_dir):
    out, report = imported
    assert sorted(report.imported) == ["0000", "2k2k_0001", "avatar"]
    assert report.failed == [] and report.skipped == []
    assert (out / "import_report.json").is_file()
    assert not (out.parent / f".{out.name}.partial").exists()
    expected_cams = scan_cameras(torch.from_numpy(person["vertices"]), VIEWS, SIZE)
    height = float(person["vertices"][:, 1].max() - person["vertices"][:, 1].min())
    for name, kind in (("0000", "obj"), ("2k2k_0001", "ply"), ("avatar", "glb")):
        subject = read_subject(out / "subjects" / name)
        meta = subject.meta
        assert meta["kind"] == "scan" and meta["units"] == "cm" and meta["format"] == kind
        assert meta["up"] == "+z" and meta["front"] == "-y" and meta["scale"] == pytest.approx(0.01)
        assert meta["height_m"] == pytest.approx(height, abs=1e-3)
        assert meta["source"].endswith(kind)
        cams = subject.cameras
        assert torch.allclose(cams.world_to_cam, expected_cams.world_to_cam, atol=1e-4)
        assert torch.allclose(cams.az, torch.arange(VIEWS) * 360.0 / VIEWS)
        assert torch.all(cams.el == 0)
        direct = renderer.render(_direct_mesh(person, kind, scans_dir), cams, outputs=("rgb", "mask", "normal", "depth"))
        both = (subject.mask > 0) & (direct.mask > 0)
        union = (subject.mask > 0) | (direct.mask > 0)
        assert float(both.sum() / union.sum()) > 0.995, name
        diff = (subject.rgb - direct.rgb).abs()[both]
        assert float(diff.mean()) < 0.004, (name, float(diff.mean()))
        assert float((diff.max(-1).values > 0.1).float().mean()) < 0.01, name
        cos = (subject.normal * direct.normal).sum(-1)[both].clamp(-1, 1)
        assert float(torch.rad2deg(torch.acos(cos)).mean()) < 2.0, name
        assert float((subject.depth - direct.depth)[both].abs().median()) < 0.001, name


def test_imported_scans_are_a_dataset(imported):
    out, _ = imported
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["preset"] == "scans" and manifest["views_per_subject"] == VIEWS
    assert [e["name"] for e in manifest["subjects"]] == ["0000", "2k2k_0001", "avatar"]
    assert {e["split"] for e in manifest["subjects"]} <= {"train", "val", "test"}
    ds = MultiViewDataset(out, split=None, n_targets=2, size=64)
    item = ds[0]
    assert len(ds) == 3 and item["input_rgb"].shape == (3, 64, 64) and item["target_rgb"].shape == (2, 3, 64, 64)
    assert float(item["input_mask"].mean()) > 0.01


def test_existing_output_is_refused_then_reused_with_overwrite(imported, scans_dir, renderer):
    out, _ = imported
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        import_scans(scans_dir, out, views=VIEWS, size=SIZE, up="+z", front="-y", renderer=renderer)
    assert sorted(p.name for p in out.iterdir()) == before
    report = import_scans(scans_dir, out, views=VIEWS, size=SIZE, up="+z", front="-y", overwrite=True,
                          renderer=renderer)
    assert sorted(report.skipped) == ["0000", "2k2k_0001", "avatar"] and report.imported == []
    assert read_subject(out / "subjects" / "avatar").meta["units"] == "cm"


def test_interrupted_import_resumes(scans_dir, tmp_path, renderer, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = scans_module._render_one

    def flaky(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scans_module, "_render_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        import_scans(scans_dir, out, views=2, size=64, up="+z", front="-y", renderer=renderer)
    assert not out.exists()  # the output appears only when complete
    partial = tmp_path / ".out.partial"
    assert sorted(p.name for p in (partial / "subjects").iterdir() if not p.name.startswith(".")) == [calls[0]]
    monkeypatch.setattr(scans_module, "_render_one", real)
    report = import_scans(scans_dir, out, views=2, size=64, up="+z", front="-y", renderer=renderer)
    assert report.skipped == [calls[0]] and len(report.imported) == 2
    assert not partial.exists()
    assert sorted(p.name for p in out.iterdir()) == ["import_report.json", "manifest.json", "subjects"]
    assert sorted(p.name for p in (out / "subjects").iterdir()) == ["0000", "2k2k_0001", "avatar"]


# ---- normalisation -----------------------------------------------------------------------
@pytest.mark.parametrize("up,front,to_source", [
    ("+y", "+z", lambda p: p),
    ("+z", "-y", lambda p: np.stack([p[:, 0], -p[:, 2], p[:, 1]], 1)),
    ("-y", "+x", lambda p: np.stack([p[:, 2], -p[:, 1], p[:, 0]], 1)),
    ("+x", "+y", lambda p: np.stack([p[:, 1], p[:, 2], p[:, 0]], 1)),
])
@pytest.mark.parametrize("unit,scale", [("m", 1.0), ("cm", 100.0), ("mm", 1000.0)])
def test_normalise_axes_units_and_centre(person, up, front, to_source, unit, scale):
    world = person["vertices"].astype(np.float64)
    source = to_source(world) * scale + np.array([3.0, -2.0, 5.0]) * scale  # off-centre too
    mesh = Mesh(torch.from_numpy(source.astype(np.float32)), torch.from_numpy(person["faces"]))
    moved, info = normalise_scan(mesh, up=up, front=front)
    assert info.units == unit and info.units_from == "detected" and info.note is None
    assert info.scale == pytest.approx(1 / scale)
    v = moved.vertices.double().numpy()
    np.testing.assert_allclose(v, world, atol=2e-5 * max(scale, 10))
    np.testing.assert_allclose((v.min(0) + v.max(0)) / 2, 0.0, atol=1e-5)
    assert torch.equal(moved.faces, mesh.faces)


def test_normalise_to_a_given_height_and_bad_options(person):
    mesh = Mesh(torch.from_numpy(person["vertices"] * 5.0), torch.from_numpy(person["faces"]))
    moved, info = normalise_scan(mesh, height=1.8)
    v = moved.vertices
    assert float(v[:, 1].max() - v[:, 1].min()) == pytest.approx(1.8, abs=1e-5)
    assert info.units_from == "height" and info.height_m == pytest.approx(1.8)
    with pytest.raises(ConfigError, match="cannot tell the units"):
        normalise_scan(mesh)  # 8 units tall: neither m, cm nor mm
    with pytest.raises(ConfigError, match="parallel"):
        normalise_scan(mesh, up="+y", front="-y", height=1.8)
    with pytest.raises(ConfigError, match="up axis must be one of"):
        normalise_scan(mesh, up="up", height=1.8)
    small = Mesh(torch.from_numpy(person["vertices"] * 0.5), torch.from_numpy(person["faces"]))
    _, info = normalise_scan(small)
    assert info.units == "m" and "unusual" in info.note


# ---- bad inputs ----------------------------------------------------------------------------
def _box_scan(folder, name="box", textured=True):
    """A 50 x 170 x 30 cm box (Y up), with a texture or without any colour."""
    folder.mkdir(parents=True, exist_ok=True)
    box = trimesh.creation.box((50.0, 170.0, 30.0))
    if textured:
        box.visual = trimesh.visual.TextureVisuals(uv=np.random.default_rng(0).random((8, 2)),
                                                   image=Image.fromarray(_texture(32)))
    box.export(folder / f"{name}.obj")
    return folder / f"{name}.obj"


def test_load_scan_errors_name_the_file(tmp_path):
    plain = _box_scan(tmp_path / "plain", textured=False)
    with pytest.raises(InputImageError, match=r"plain/box\.obj: has no texture or vertex colours.*export it with its texture"):
        load_scan(plain)
    grey = load_scan(plain, allow_untextured=True)
    assert grey.texture is None and grey.vertex_colors is None and grey.faces.shape == (12, 3)

    textured = _box_scan(tmp_path / "lost")
    (tmp_path / "lost" / "material_0.png").unlink()
    with pytest.raises(InputImageError, match="names the texture material_0.png, which is missing"):
        load_scan(textured)

    glb = tmp_path / "broken.glb"
    glb.write_bytes(b"glTF\x02\x00\x00\x00" + os.urandom(64))
    with pytest.raises(InputImageError, match=r"broken\.glb: cannot read the scan.*re-export it"):
        load_scan(glb)
    (tmp_path / "junk.obj").write_text("v 1 2\nf 1 2 3 9\n")
    with pytest.raises(InputImageError, match=r"junk\.obj"):
        load_scan(tmp_path / "junk.obj")
    with pytest.raises(InputImageError, match="not found"):
        load_scan(tmp_path / "missing.ply")


def test_import_bad_folders_leave_nothing(tmp_path, renderer):
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputImageError, match="no scans found"):
        import_scans(tmp_path / "empty", out, renderer=renderer)
    with pytest.raises(InputImageError, match="scans folder not found"):
        import_scans(tmp_path / "nowhere", out, renderer=renderer)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.glb").write_bytes(b"not a glb at all")
    with pytest.raises(InputImageError, match=r"none of the 1 scans.*a\.glb: cannot read the scan"):
        import_scans(bad, out, views=2, size=64, renderer=renderer)
    assert sorted(os.listdir(tmp_path)) == ["bad", "empty"]  # no output, no partial folder
    with pytest.raises(ConfigError, match="--views"):
        import_scans(bad, out, views=0, renderer=renderer)


def test_one_bad_scan_is_reported_and_the_rest_imported(tmp_path, renderer):
    src = tmp_path / "src"
    _box_scan(src / "good")
    _box_scan(src / "untextured", textured=False)
    (src / "broken").mkdir()
    (src / "broken" / "scan.glb").write_bytes(b"glTF" + b"\x00" * 40)
    report = import_scans(src, tmp_path / "out", views=2, size=64, renderer=renderer)
    assert report.imported == ["good"]
    reasons = {f["name"]: f["reason"] for f in report.failed}
    assert set(reasons) == {"broken", "untextured"}
    assert "cannot read the scan" in reasons["broken"] and "no texture" in reasons["untextured"]
    assert sorted(os.listdir(tmp_path / "out" / "subjects")) == ["good"]
    saved = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert {f["name"] for f in saved["failed"]} == {"broken", "untextured"}
    assert read_subject(tmp_path / "out" / "subjects" / "good").meta["units"] == "cm"


def test_find_scans_layouts(tmp_path):
    for rel in ("THuman/0000/0000.obj", "THuman/0001/0001.obj", "Custom/0003_00070/mesh-f00061.obj",
                "Custom/0003_00070/mesh-f00062.ply", "2K2K/00003/00003.ply", "2K2K/00003/00003.glb",
                "loose.glb", ".hidden/x.obj", "_pruned/y.obj", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    found = {name: path.relative_to(tmp_path).as_posix() for name, path in find_scans(tmp_path)}
    assert found == {
        "THuman_0000": "THuman/0000/0000.obj", "THuman_0001": "THuman/0001/0001.obj",
        "Custom_0003_00070_mesh-f00061": "Custom/0003_00070/mesh-f00061.obj",
        "Custom_0003_00070_mesh-f00062": "Custom/0003_00070/mesh-f00062.ply",
        "2K2K_00003": "2K2K/00003/00003.glb", "loose": "loose.glb"}
