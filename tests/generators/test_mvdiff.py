"""The "mvdiff" generator: inside `humanmv generate` a pipeline folder of random tiny weights
refines the prior's views end to end; the model works in a square window that frames the person
as in training, whatever the view's shape; the reconstruct stage makes its views agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUMANMV, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from humanmv.models import MultiViewUNet, get_config
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    MVDiffPipeline(MultiViewUNet(get_config("tiny"))).save_pretrained(folder)
    return folder


def _views(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted((folder / "views").glob("*.png"))])


def _uint8(images) -> np.ndarray:
    """As `humanmv generate` writes images (views, texture.png)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


VIEWS = {"views": 3, "size": 64, "seed": 0}


@pytest.fixture(scope="module")
def prior(studio, astronaut, astronaut_fit):
    return studio.generate(astronaut, "prior", photo_fit=astronaut_fit, **VIEWS)


def test_mvdiff_refines_the_prior_views_deterministically(studio, astronaut, astronaut_fit, prior, tiny_checkpoint):
    """Through the Studio: the same seed twice gives the same views and texture; the model
    changed the prior's views, and the views were fused into a new texture."""
    runs = [studio.generate(astronaut, "mvdiff", checkpoint=tiny_checkpoint, options={"steps": 2},
                            reconstruct="texture", photo_fit=astronaut_fit, **VIEWS) for _ in range(2)]
    a, b = runs
    assert a.views.rgb.shape == prior.views.rgb.shape == (3, 64, 64, 3)
    assert a.choice.name == "mvdiff" and a.choice.weights == tiny_checkpoint and a.avatar.reconstruct == "texture"
    assert torch.equal(a.views.rgb, b.views.rgb) and torch.equal(a.views.mask, b.views.mask)  # same seed, same views
    assert torch.equal(a.avatar.mesh.texture, b.avatar.mesh.texture)
    # the same body seen from the same cameras (texture mode keeps the fit's body) ...
    assert torch.equal(a.views.mask, prior.views.mask) and a.views.mask.sum() > 100
    # ... but the model changed what it looks like, and the exported texture is the new one
    assert not torch.equal(a.views.rgb, prior.views.rgb)
    assert a.avatar.mesh.texture.shape == prior.avatar.mesh.texture.shape == (256, 256, 3)
    assert not torch.equal(a.avatar.mesh.texture, prior.avatar.mesh.texture)
    assert studio.load(a.choice).generator is studio.load(b.choice).generator  # loaded once, kept


def test_generate_with_a_checkpoint_end_to_end(tmp_path, examples_dir, prior, tiny_checkpoint):
    """`humanmv generate --generator mvdiff --checkpoint DIR` in a real process, with the
    generator's default reconstruction (refit): the views, their texture and run.json."""
    import json

    out = tmp_path / "mv"
    proc = run("generate", str(examples_dir / "astronaut.jpg"), "--out", str(out), "--views", "3", "--size", "64",
               "--texture-size", "256", "--mode", "body", "--generator", "mvdiff", "--checkpoint",
               str(tiny_checkpoint), "--opt", "mvdiff.steps=2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    views = _views(out)
    assert views.shape == (3, 64, 64, 4) and (views[..., 3] > 0).sum() > 300
    info = json.loads((out / "run.json").read_text())
    assert info["generator"] == "mvdiff" and info["options"]["steps"] == 2
    assert info["checkpoint"] == str(tiny_checkpoint) and info["reconstruct"] == "refit"
    assert json.loads((out / "avatar.json").read_text())["reconstruct"] == "refit"
    texture = np.asarray(Image.open(out / "texture.png"))
    prior_texture = _uint8(prior.avatar.mesh.texture)
    assert texture.shape == prior_texture.shape and not np.array_equal(texture, prior_texture)
    assert not np.array_equal(views[..., :3], _uint8(prior.views.rgb))


class _NoPerception:
    """Stands in for the CLI's forked perception: these errors must come before its result is
    needed (and no child process is forked from the test process)."""

    started = 0

    def __init__(self, rgb, **kwargs) -> None:
        type(self).started += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def result(self, timeout: float = 300.0):
        raise AssertionError("perception was needed before the error")


def _fails(capsys, monkeypatch, *args: str) -> str:
    """Run `humanmv ARGS` in this process; it must exit 2 with one line on stderr."""
    from humanmv.cli import main

    monkeypatch.setattr("humanmv.perception.background.BackgroundPerception", _NoPerception)
    with pytest.raises(SystemExit) as done:
        main(list(args))
    err = capsys.readouterr().err
    assert done.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def test_mvdiff_checkpoint_errors_are_one_line(tmp_path, examples_dir, tiny_checkpoint, capsys, monkeypatch):
    photo = str(examples_dir / "astronaut.jpg")
    _NoPerception.started = 0
    # checked before any model work: in this process
    for out, args, words in (
        ("x", ("--generator", "mvdiff", "--checkpoint", str(tmp_path / "missing")),
         f"{tmp_path / 'missing'}: checkpoint folder not found"),
        ("z", ("--checkpoint", str(tiny_checkpoint)), "--generator prior takes no checkpoint"),
        ("w", ("--generator", "mvdiff", "--reconstruct", "mesh"),
         "--reconstruct must be one of none, texture, refit, surface"),
        ("v", ("--generator", "mvdiff", "--opt", "mvdiff.steps=0"), "mvdiff.steps must be >= 1, got 0"),
    ):
        err = _fails(capsys, monkeypatch, "generate", photo, "--out", str(tmp_path / out), *args)
        assert err.startswith("humanmv: error: ") and words in err, (args, err)
        assert not (tmp_path / out).exists()
    assert _NoPerception.started == 4  # each got past the CLI's own checks to the generator choice
    # a checkpoint that is found broken while loading the models: a real process, one line
    broken = tmp_path / "broken"
    (broken / "model").mkdir(parents=True)
    (broken / "model" / "config.json").write_text((tiny_checkpoint / "model" / "config.json").read_text())
    proc = run("generate", photo, "--out", str(tmp_path / "y"), "--generator", "mvdiff", "--checkpoint", str(broken),
               "--mode", "body", "--views", "2", "--size", "64", "--texture-size", "256")
    assert proc.returncode == 2 and "model.safetensors" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("humanmv: error: ")
    assert not (tmp_path / "y").exists()


def test_a_broken_checkpoint_is_refused_by_the_studio_and_nothing_is_kept(studio, astronaut, astronaut_fit, tmp_path,
                                                                          tiny_checkpoint):
    from humanmv.errors import CheckpointError

    broken = tmp_path / "broken"
    (broken / "model").mkdir(parents=True)
    (broken / "model" / "config.json").write_text((tiny_checkpoint / "model" / "config.json").read_text())
    loaded = set(studio.modules())
    with pytest.raises(CheckpointError, match="model.safetensors") as err:
        studio.generate(astronaut, "mvdiff", checkpoint=broken, photo_fit=astronaut_fit, **VIEWS)
    assert str(broken / "model") in str(err.value) and "\n" not in str(err.value)
    assert set(studio.modules()) == loaded  # nothing of the failed load is kept


def test_the_model_window_frames_the_person_as_in_training():
    """A square view is the model's window as it is; a tall or wide view gives a square of its
    shorter side centred on the person (inside the view), grown to the person's longer side."""
    import torch

    from humanmv.generators.mvdiff import model_window

    def mask(h, w, box):
        m = torch.zeros(h, w)
        m[box[1]:box[3], box[0]:box[2]] = 1
        return m

    whole = model_window(mask(64, 64, (10, 5, 30, 60)), 64, 64)
    assert (whole.x0, whole.y0, whole.side) == (0, 0, 64)
    tall = model_window(mask(80, 48, (14, 30, 34, 70)), 48, 80)  # a person 20 x 40 in a 48 x 80 view
    assert (tall.x0, tall.y0, tall.side) == (0, 26, 48)  # 48 x 48, centred on the person's rows 30..70
    edge = model_window(mask(80, 48, (14, 60, 34, 80)), 48, 80)
    assert (edge.y0, edge.side) == (32, 48)  # kept inside the view
    wide = model_window(mask(48, 80, (2, 10, 22, 40)), 80, 48)
    assert (wide.x0, wide.y0, wide.side) == (0, 0, 48)
    big = model_window(mask(80, 48, (10, 4, 40, 76)), 48, 80)  # taller than the view is wide
    assert (big.x0, big.y0, big.side) == (-12, 4, 72)
    canvas = mask(100, 100, (10, 30, 30, 70))  # a 48 x 80 view on a larger canvas: only its corner counts
    canvas[:, 60:] = 1
    assert model_window(canvas, 48, 80).side == 48
    image = torch.arange(2 * 80 * 48, dtype=torch.float32).view(2, 80, 48)
    cut = big.cut(image, torch.tensor([-1.0, -2.0]))
    assert cut.shape == (2, 72, 72) and (cut[:, :, :12] < 0).all() and torch.equal(cut[:, :, 12:60], image[:, 4:76])
    back = torch.zeros(2, 80, 48)
    big.paste(cut, back)
    assert torch.equal(back[:, 4:76], image[:, 4:76]) and not back[:, :4].any()


def test_views_of_any_shape_come_back_where_the_prior_put_the_person(tiny_checkpoint):
    """With a model that returns its coarse input, generate_raw gives back the prior's person
    exactly: the windows are cut and pasted at the right places, never stretched."""
    import torch

    from humanmv.cameras import Cameras, orbit_cameras
    from humanmv.generators import GeneratorContext
    from humanmv.generators.mvdiff import MVDiffGenerator, MVDiffOptions
    from humanmv.views import Views

    gen = MVDiffGenerator(GeneratorContext(None, None, torch.device("cpu")), MVDiffOptions(steps=2), tiny_checkpoint)

    class Echo:  # the model's place: returns the coarse views it is given
        config = gen.pipe.config

        def __call__(self, ref, ref_cond, coarse, normal, camera, **kw):
            return coarse.clone()

    gen.pipe = Echo()
    a, b = orbit_cameras([0.0], 0.0, 3.0, 30.0, 48, 80), orbit_cameras([90.0], 0.0, 3.0, 30.0, 64, 64)
    cams = Cameras.with_sizes(torch.cat([a.K, b.K]), torch.cat([a.world_to_cam, b.world_to_cam]), [[48, 80], [64, 64]])
    mask = torch.zeros(2, 80, 64)
    mask[0, 20:60, 14:34] = 1  # a 20 x 40 person in the 48 x 80 view
    mask[1, 10:50, 5:25] = 1
    rgb = torch.full((2, 80, 64, 3), 0.3) * mask[..., None]
    coarse = Views(cams, rgb=rgb, mask=mask, normal=torch.zeros(2, 80, 64, 3), depth=mask * 3.0)
    photo = torch.full((80, 48, 3), 0.3)
    out = gen.generate_raw(coarse, photo, mask[0, :, :48], (rgb[0, :, :48], mask[0, :, :48], torch.zeros(80, 48, 3)),
                           a.world_to_cam[0])
    assert torch.equal(out.mask, mask) and torch.allclose(out.rgb, rgb) and torch.equal(out.depth, coarse.depth)


def test_fused_views_agree_from_view_to_view_and_raw_views_do_not(body, renderer, tiny_checkpoint):
    """With random weights the model's raw views are noise; fused into the avatar's texture and
    re-rendered, every view carries into its neighbour (reprojection with the prior's depth)."""
    import torch
    import torch.nn.functional as F

    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import orbit_cameras_around, ring_azimuths
    from humanmv.eval.consistency import reprojection_psnr, ring_pairs
    from humanmv.generators import GeneratorContext
    from humanmv.generators.mvdiff import MVDiffGenerator, MVDiffOptions
    from humanmv.pipelines.subject import Subject
    from humanmv.recon import reconstruct_avatar

    torch.manual_seed(0)
    with torch.no_grad():
        verts = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0]
    texture = F.interpolate(torch.rand(1, 3, 8, 8), size=(256, 256), mode="bicubic", align_corners=False)
    avatar = body.mesh(verts, texture=texture[0].permute(1, 2, 0).clamp(0, 1))
    photo_cam = orbit_cameras_around(verts, [0.0], 0.0, fov_deg=30.0, width=96, height=128)
    seen = renderer.render(avatar, photo_cam, outputs=("rgb", "mask"))
    photo = seen.rgb[0] * seen.mask[0, ..., None] + (1 - seen.mask[0, ..., None])
    subject = Subject(photo, seen.mask[0], "body", avatar, photo_cam, verts)
    cams = orbit_cameras_around(verts, ring_azimuths(8), 0.0, fov_deg=30.0, width=96, height=96)

    context = GeneratorContext(renderer, body, torch.device("cpu"))
    raw = MVDiffGenerator(context, MVDiffOptions(steps=2), tiny_checkpoint)(subject, cams)
    rec = reconstruct_avatar(raw, subject, "texture", renderer=renderer)  # the subject carries no fit: no refit
    fused = rec.views
    prior = renderer.render(avatar, cams, outputs=("mask",))
    assert torch.equal(fused.mask, prior.mask) and rec.avatar.reconstruct == "texture" and rec.refit is None
    assert not torch.equal(rec.avatar.mesh.texture, avatar.texture)
    pairs = ring_pairs(cams)
    consistent = [p for p in reprojection_psnr(fused.rgb, fused.depth, cams, pairs, mask=fused.mask) if p is not None]
    loose = [p for p in reprojection_psnr(raw.rgb, raw.depth, cams, pairs, mask=raw.mask) if p is not None]
    assert len(consistent) == 8 and min(consistent) > 22
    assert loose and sum(loose) / len(loose) < min(consistent) - 5
