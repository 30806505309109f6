"""The "mvdiff" generator inside `humanmv generate`: a pipeline folder of random tiny weights
refines the prior's views end to end (the shipped weights are tested by the benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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


def test_generate_with_mvdiff_refines_the_prior_views_deterministically(tmp_path, examples_dir, tiny_checkpoint):
    photo = str(examples_dir / "astronaut.jpg")
    common = ("--views", "3", "--size", "64", "--texture-size", "256", "--mode", "body")
    outs = {}
    for name, extra in (("prior", ()), ("a", ("--generator", "mvdiff", "--checkpoint", str(tiny_checkpoint))),
                        ("b", ("--generator", "mvdiff", "--checkpoint", str(tiny_checkpoint)))):
        proc = run("generate", photo, "--out", str(tmp_path / name), *common, *extra)
        assert proc.returncode == 0, proc.stderr
        outs[name] = _views(tmp_path / name)
    assert outs["a"].shape == outs["prior"].shape == (3, 64, 64, 4)
    assert np.array_equal(outs["a"], outs["b"])  # same seed, same views
    assert not np.array_equal(outs["a"], outs["prior"])  # the model changed them
    # The views were fused into the avatar: the exported texture is the new one.
    textures = {k: np.asarray(Image.open(tmp_path / k / "texture.png")) for k in ("prior", "a")}
    assert textures["a"].shape == textures["prior"].shape and not np.array_equal(textures["a"], textures["prior"])


def test_mvdiff_checkpoint_errors_are_one_line(tmp_path, examples_dir, tiny_checkpoint):
    photo = str(examples_dir / "astronaut.jpg")
    proc = run("generate", photo, "--out", str(tmp_path / "x"), "--generator", "mvdiff",
               "--checkpoint", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "checkpoint folder not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken"
    (broken / "model").mkdir(parents=True)
    (broken / "model" / "config.json").write_text((tiny_checkpoint / "model" / "config.json").read_text())
    proc = run("generate", photo, "--out", str(tmp_path / "y"), "--generator", "mvdiff", "--checkpoint", str(broken))
    assert proc.returncode == 2 and "model.safetensors" in proc.stderr, proc.stderr
    assert not (tmp_path / "y").exists()
    proc = run("generate", photo, "--out", str(tmp_path / "z"), "--checkpoint", str(tiny_checkpoint))
    assert proc.returncode == 2 and "--generator mvdiff" in proc.stderr
    proc = run("generate", photo, "--out", str(tmp_path / "w"), "--raw-views")
    assert proc.returncode == 2 and "--raw-views is for --generator mvdiff" in proc.stderr


def test_refine_pads_non_square_views_instead_of_stretching_them(tiny_checkpoint):
    """Views at a non-square camera (a photo's) are padded to the model's square and cropped
    back: they return at their own size with the prior's depth."""
    import torch

    from humanmv.cameras import orbit_cameras
    from humanmv.pipelines.generator import GeneratedViews
    from humanmv.pipelines.mvdiff import MVDiffGenerator

    gen = MVDiffGenerator(None, tiny_checkpoint, steps=2)
    cams = orbit_cameras([0.0, 90.0], 0.0, 3.0, 30.0, 48, 80)  # 48 wide, 80 tall
    mask = torch.zeros(2, 80, 48)
    mask[:, 20:60, 14:34] = 1
    coarse = GeneratedViews(cams, torch.full((2, 80, 48, 3), 0.3) * mask[..., None], mask,
                            torch.zeros(2, 80, 48, 3), mask * 3.0)
    photo = torch.full((80, 48, 3), 0.3)
    out = gen.generate_raw(coarse, photo, mask[0], (coarse.rgb[0], mask[0], coarse.normal[0]), cams.world_to_cam[0])
    assert out.rgb.shape == (2, 80, 48, 3) and out.mask.shape == (2, 80, 48)
    assert torch.equal(out.depth, coarse.depth)


def test_fused_views_agree_from_view_to_view_and_raw_views_do_not(body, renderer, tiny_checkpoint):
    """With random weights the model's raw views are noise; fused into the avatar's texture and
    re-rendered, every view carries into its neighbour (reprojection with the prior's depth)."""
    import torch
    import torch.nn.functional as F

    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import orbit_cameras_around, ring_azimuths
    from humanmv.eval.consistency import reprojection_psnr, ring_pairs
    from humanmv.pipelines.generator import Subject
    from humanmv.pipelines.mvdiff import MVDiffGenerator

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

    fused = MVDiffGenerator(renderer, tiny_checkpoint, steps=2)(subject, cams)
    raw = MVDiffGenerator(renderer, tiny_checkpoint, steps=2, fuse=False)(subject, cams)
    prior = renderer.render(avatar, cams, outputs=("mask",))
    assert torch.equal(fused.mask, prior.mask) and fused.avatar is not None and raw.avatar is None
    assert not torch.equal(fused.avatar.texture, avatar.texture)
    pairs = ring_pairs(cams)
    consistent = [p for p in reprojection_psnr(fused.rgb, fused.depth, cams, pairs, mask=fused.mask) if p is not None]
    loose = [p for p in reprojection_psnr(raw.rgb, raw.depth, cams, pairs, mask=raw.mask) if p is not None]
    assert len(consistent) == 8 and min(consistent) > 22
    assert loose and sum(loose) / len(loose) < min(consistent) - 5
