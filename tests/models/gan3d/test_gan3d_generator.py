"""GAN3DGenerator: its contract, determinism, truncation, every parameter in use, its files."""

from __future__ import annotations

import json

import pytest
import torch

from humanmv.cameras import orbit_cameras
from humanmv.errors import CheckpointError
from humanmv.models.gan3d import GAN3DGenerator, PosedBody, get_gan3d_config, parameter_count, shell_samples


def _generator(config, seed: int = 0) -> GAN3DGenerator:
    torch.manual_seed(seed)
    return GAN3DGenerator(config)


def _z(config, B: int, seed: int) -> torch.Tensor:
    return torch.randn(B, config.z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_output_shapes_and_ranges(tiny, toy_samples):
    out = _generator(tiny).eval()(_z(tiny, 3, 0), toy_samples(tiny, 3))
    assert out.rgb.shape == (3, 3, 32, 16) and out.mask.shape == out.mask_logit.shape == (3, 1, 32, 16)
    assert out.style_map.shape == (3, tiny.style_channels, 8, 4) and out.opacity.shape == (3, 1, 8, 4)
    assert out.w.shape == (3, tiny.w_dim)
    assert float(out.rgb.min()) >= -1 and float(out.rgb.max()) <= 1 and float(out.rgb.std()) > 1e-3
    assert float(out.mask.min()) >= 0 and float(out.mask.max()) <= 1
    assert torch.allclose(out.mask, torch.sigmoid(out.mask_logit))


@torch.no_grad()
def test_same_inputs_same_output_other_z_other_rgb(tiny, toy_samples):
    gen = _generator(tiny).eval()
    samples = toy_samples(tiny, 2)
    a, b = gen(_z(tiny, 2, 0), samples), gen(_z(tiny, 2, 0), samples)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.mask, b.mask)
    c = gen(_z(tiny, 2, 1), samples)
    assert float((c.rgb - a.rgb).abs().amax((1, 2, 3)).min()) > 1e-3
    assert torch.equal(c.style_map, a.style_map)  # the pose style does not depend on z
    other_pose = gen(_z(tiny, 2, 0), toy_samples(tiny, 2, seed=5))
    assert float((other_pose.rgb - a.rgb).abs().max()) > 1e-3


def test_truncation_zero_gives_the_mean_w_output(tiny, toy_samples):
    gen = _generator(tiny).train()
    samples = toy_samples(tiny, 2)
    with torch.no_grad():
        for seed in range(3):  # training-mode passes move the tracked mean w away from zero
            gen(_z(tiny, 2, seed), samples)
        gen.eval()
        assert float(gen.w_avg.abs().max()) > 1e-3
        mean = gen.synthesize(gen.w_avg.expand(2, -1), samples)
        for seed in (10, 11):
            out = gen(_z(tiny, 2, seed), samples, truncation=0.0)
            assert torch.allclose(out.rgb, mean.rgb, atol=1e-6) and torch.allclose(out.w, mean.w)
        assert float((gen(_z(tiny, 2, 10), samples).rgb - mean.rgb).abs().max()) > 1e-3


def test_every_parameter_gets_a_gradient(tiny, toy_samples):
    for config in (tiny, get_gan3d_config("tiny", backbone="upsampling", norm="instance")):
        gen = _generator(config).train()
        out = gen(_z(config, 2, 0), toy_samples(config, 2))
        (out.rgb.square().mean() + out.mask_logit.mean()).backward()
        dead = [n for n, p in gen.named_parameters() if p.grad is None or float(p.grad.abs().max()) == 0]
        assert not dead, dead


def test_samples_must_match_the_batch_and_the_style_size(tiny, toy_samples):
    gen = _generator(tiny)
    with pytest.raises(AssertionError):
        gen(_z(tiny, 3, 0), toy_samples(tiny, 2))
    with pytest.raises(AssertionError):
        gen(_z(tiny, 2, 0), toy_samples(get_gan3d_config("tiny", style_height=16, style_width=8), 2))


def test_save_load_round_trip(tiny, toy_samples, tmp_path):
    gen = _generator(tiny, seed=3).train()
    samples = toy_samples(tiny, 2)
    with torch.no_grad():
        gen(_z(tiny, 2, 0), samples)  # non-trivial BN running statistics and mean w
    gen.eval()
    folder = gen.save_pretrained(tmp_path / "g")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["model_type"] == "gan3d-generator"
    again = GAN3DGenerator.from_pretrained(folder)
    assert again.config == gen.config and not again.training
    with torch.no_grad():
        a, b = gen(_z(tiny, 2, 7), samples), again(_z(tiny, 2, 7), samples)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.mask, b.mask)
    assert torch.equal(again.w_avg, gen.w_avg)


def test_bad_checkpoints_are_one_line_errors_naming_the_file(tiny, tmp_path):
    from humanmv.models.pose_lifter import PoseLifter, PoseLifterConfig

    _generator(tiny).save_pretrained(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    (tmp_path / "g" / "config.json").write_text(json.dumps({**cfg, "backbone_channels": 24}))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*shape") as err:
        GAN3DGenerator.from_pretrained(tmp_path / "g")
    assert str(tmp_path / "g" / "model.safetensors") in str(err.value) and "\n" not in str(err.value)

    PoseLifter(PoseLifterConfig(width=8, blocks=1)).save_pretrained(tmp_path / "lifter")
    with pytest.raises(CheckpointError, match=r"config\.json.*not a 3DHumanGAN generator"):
        GAN3DGenerator.from_pretrained(tmp_path / "lifter")
    (tmp_path / "g" / "config.json").write_text(json.dumps({**cfg, "norm": "group"}))
    with pytest.raises(CheckpointError, match=r"config\.json.*norm"):
        GAN3DGenerator.from_pretrained(tmp_path / "g")
    with pytest.raises(CheckpointError, match="folder not found"):
        GAN3DGenerator.from_pretrained(tmp_path / "nothing")


def test_parameter_counts_of_the_named_configs():
    """The small generator stays a few M parameters (its float32 file well under 100 MB)."""
    counts = {}
    for name in ("tiny", "small", "paper"):
        with torch.device("meta"):
            counts[name] = parameter_count(GAN3DGenerator(get_gan3d_config(name)))
    assert counts["tiny"] < 20_000 < counts["small"] < 3_000_000 and counts["paper"] > 4 * counts["small"]
    assert counts["small"] * 4 < 100e6


@torch.no_grad()
def test_paper_config_shapes():
    config = get_gan3d_config("paper")
    with torch.device("meta"):
        gen = GAN3DGenerator(config).eval()
        backbone_out = gen.backbone(torch.zeros(1, config.style_channels, 64, 32), torch.zeros(1, config.w_dim))
    assert backbone_out[0].shape == (1, 3, 256, 128) and backbone_out[1].shape == (1, 1, 256, 128)


@torch.no_grad()
def test_runs_on_real_shell_samples(tiny, body, renderer, raised_arm):
    posed = PosedBody.from_anny(body, raised_arm)
    cameras = orbit_cameras([0.0, 90.0], 0.0, distance=3.2, fov_deg=40.0, width=tiny.style_width,
                            height=tiny.style_height)
    samples = shell_samples(posed, cameras, renderer, tiny.shell_half_thickness, tiny.samples_per_ray,
                            generator=torch.Generator().manual_seed(0))
    out = _generator(tiny).eval()(_z(tiny, 1, 0).expand(2, -1), samples)
    on = samples.mask[:, None] > 0
    assert on.sum() > 4 and (out.style_map.abs().sum(1, keepdim=True) > 0).eq(on).all()
    assert torch.isfinite(out.rgb).all() and out.rgb.shape == (2, 3, 32, 16)


def test_batch_norm_recalibration_averages_the_batches_statistics(tiny, toy_samples):
    gen = _generator(tiny).eval()
    batches = [(_z(tiny, 3, s), toy_samples(tiny, 3, seed=s)) for s in (1, 2)]
    norm = gen.backbone.spades[0].norm
    captured = []
    hook = norm.register_forward_hook(lambda m, args, out: captured.append(args[0].detach()))
    w_avg = gen.w_avg.clone()
    assert gen.recalibrate_batch_norm(batches) == 2
    hook.remove()
    assert not gen.training and torch.equal(gen.w_avg, w_avg) and norm.momentum == 0.1
    means = torch.stack([x.mean((0, 2, 3)) for x in captured])
    variances = torch.stack([x.var((0, 2, 3), unbiased=True) for x in captured])
    assert torch.allclose(norm.running_mean, means.mean(0), atol=1e-5)
    assert torch.allclose(norm.running_var, variances.mean(0), rtol=1e-4, atol=1e-6)
    # In eval mode a batch of the same views now normalises like training mode did.
    z, samples = batches[0]
    with torch.no_grad():
        evaluated = gen(z, samples).rgb
        trained = gen.train()(z, samples).rgb
    assert float((evaluated - trained).abs().mean()) < 0.1
    instance = GAN3DGenerator(get_gan3d_config("tiny", norm="instance"))
    assert instance.recalibrate_batch_norm(batches) == 0  # nothing to recalibrate
