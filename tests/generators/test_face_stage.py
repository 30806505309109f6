"""The "face" refine stage: on by default after mvdiff and off with --no-face-stage; through the
Studio it refines the face views of a real photo and reports them; a subject without a face in
the photo passes through (logged once); a mis-shaped face checkpoint is one line naming the file."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from humanmv.errors import CheckpointError, ConfigError
from humanmv.generators import GeneratorChoice

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from face_model import tiny_face_folder  # noqa: E402

HUMANMV = [sys.executable, "-c", "from humanmv.cli import main; main()"]


@pytest.fixture(scope="module")
def tiny_mvdiff(tmp_path_factory) -> Path:
    from humanmv.models import MultiViewUNet, get_config
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    torch.manual_seed(0)
    return MVDiffPipeline(MultiViewUNet(get_config("tiny"))).save_pretrained(tmp_path_factory.mktemp("mv") / "tiny")


@pytest.fixture(scope="module")
def tiny_face(tmp_path_factory, body) -> Path:
    return tiny_face_folder(tmp_path_factory.mktemp("face") / "face", len(body.expression_names))


def test_chosen_with_refine_and_off_with_the_flag():
    # Off by default until it beats mvdiff without it (README, "The face stage").
    assert GeneratorChoice.from_flags("mvdiff").refine == ()
    assert GeneratorChoice.from_flags("mvdiff", refine="face").refine == ("face",)
    assert GeneratorChoice.from_flags("mvdiff", without=("face",)).refine == ()
    assert GeneratorChoice.from_flags("mvdiff", refine="face", without=("face",)).refine == ()
    assert GeneratorChoice.make("mvdiff", {"refine": "none"}).refine == ()
    assert GeneratorChoice.from_flags("prior").refine == ()
    with pytest.raises(ConfigError, match="conflict with turning it off"):
        GeneratorChoice.from_flags("mvdiff", ["face.steps=3"], without=("face",))


def test_the_studio_refines_the_face_views(studio, astronaut, astronaut_fit, tiny_mvdiff, tiny_face):
    options = {"steps": 2, "refine": "face", "face.checkpoint": str(tiny_face), "face.steps": 2}
    result = studio.generate(astronaut, "mvdiff", checkpoint=tiny_mvdiff, options=options, photo_fit=astronaut_fit,
                             views=4, size=96, seed=0)
    report = result.notes["face_stage"]
    assert report["skipped"] is None and report["refined_views"][0] == 0 and 2 not in report["refined_views"]  # not the back
    assert "refine_face" in result.timings and result.subject.face_found
    plain = studio.generate(astronaut, "mvdiff", checkpoint=tiny_mvdiff, options={"steps": 2, "refine": "none"},
                            photo_fit=astronaut_fit, views=4, size=96, seed=0)
    assert "face_stage" not in plain.notes
    assert not torch.equal(plain.views.rgb, result.views.rgb)
    # The reconstruct stage fuses the refined faces as a group of their own (trusted like the
    # photo); with no trust it fuses them only as ordinary generated views.
    untrusted = studio.generate(astronaut, "mvdiff", checkpoint=tiny_mvdiff, photo_fit=astronaut_fit,
                                options={**options, "reconstruct.face_trust": 0}, views=4, size=96, seed=0)
    from humanmv.body.face_regions import face_regions

    changed = (result.views.rgb - untrusted.views.rgb).abs().amax(-1) > 2e-3
    faces = face_regions(studio.body, result.avatar.mesh.vertices, result.views.cameras, studio.renderer,
                         max_angle=180.0).masks
    near_face = torch.nn.functional.max_pool2d(faces[:, None], 9, stride=1, padding=4)[:, 0] > 0
    assert changed.any() and (changed & ~near_face).sum() < 0.01 * (result.views.mask > 0.5).sum()


def test_no_face_in_the_photo_passes_through_logged_once(studio, astronaut, astronaut_fit, tiny_face, caplog):
    from humanmv.generators.face_stage import FaceStage, FaceStageOptions
    from humanmv.pipelines.subject import make_subject
    from humanmv.views import Views

    subject = dataclasses.replace(make_subject(astronaut_fit, studio.texture_builder(256)).subject, face_found=False)
    stage = FaceStage(studio.context, FaceStageOptions(checkpoint=tiny_face, steps=1))
    cams = subject.photo_camera
    views = Views(cams, torch.zeros(1, cams.height, cams.width, 3), torch.zeros(1, cams.height, cams.width))
    with caplog.at_level(logging.WARNING, logger="humanmv.face"):
        out = [stage(views, subject) for _ in range(3)]
    assert all(torch.equal(o.rgb, views.rgb) for o in out)
    assert out[0].meta["face_stage"]["skipped"].startswith("no face was found in the photo")
    assert [r.message for r in caplog.records].count(out[0].meta["face_stage"]["skipped"]) == 1


def test_a_mis_shaped_face_checkpoint_is_one_line_naming_the_file(tmp_path, studio, astronaut, astronaut_fit,
                                                                  tiny_face, tiny_mvdiff, examples_dir, body):
    import shutil


    bad = tmp_path / "bad"
    shutil.copytree(tiny_face, bad)
    other = tiny_face_folder(tmp_path / "other", len(body.expression_names) + 2)
    shutil.copy(other / "tokens" / "model.safetensors", bad / "tokens" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"tokens/model.safetensors: tensor .* has shape") as err:
        studio.generate(astronaut, "mvdiff", checkpoint=tiny_mvdiff, options={"refine": "face", "face.checkpoint": str(bad)},
                        photo_fit=astronaut_fit, views=2, size=64)
    assert "\n" not in str(err.value)
    proc = subprocess.run([*HUMANMV, "generate", str(examples_dir / "astronaut.jpg"), "--out", str(tmp_path / "out"),
                           "--generator", "mvdiff", "--checkpoint", str(tiny_mvdiff), "--refine", "face",
                           "--opt", f"face.checkpoint={bad}",
                           "--views", "2", "--size", "64", "--texture-size", "256"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "tokens/model.safetensors" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_views_of_two_sizes_come_back_at_their_cameras(studio, astronaut, astronaut_fit, tiny_mvdiff, tiny_face):
    from humanmv.cameras import Cameras, orbit_cameras_around

    fit = astronaut_fit.fit
    square = orbit_cameras_around(fit.vertices, [0.0, 45.0], 0.0, fov_deg=30.0, width=96, height=96)
    tall = orbit_cameras_around(fit.vertices, [315.0], 0.0, fov_deg=30.0, width=96, height=160)
    cams = Cameras.with_sizes(torch.cat([square.K, tall.K]), torch.cat([square.world_to_cam, tall.world_to_cam]),
                              [[96, 96]] * 2 + [[96, 160]], names=["a", "b", "c"])
    options = {"steps": 2, "refine": "face", "face.checkpoint": str(tiny_face), "face.steps": 2}
    result = studio.generate(astronaut, "mvdiff", checkpoint=tiny_mvdiff, options=options, photo_fit=astronaut_fit,
                             cameras=cams, reconstruct="none")  # the Studio checks every stage's views
    assert result.notes["face_stage"]["refined_views"] == [0, 1, 2]
    assert result.views.rgb.shape == (3, 160, 96, 3) and not result.views.mask[:2, 96:].any()
