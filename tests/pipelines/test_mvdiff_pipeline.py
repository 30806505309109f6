import dataclasses

import pytest
import torch
from diffusers import AutoencoderKL

from humanmv.errors import CheckpointError, ConfigError
from humanmv.models import MultiViewUNet, get_config
from humanmv.pipelines.mvdiff import MVDiffPipeline

N, HEIGHT, WIDTH = 2, 48, 40  # not the model size, and not square: the pipeline resizes


def views(seed=0, n=N, h=HEIGHT, w=WIDTH):
    g = torch.Generator().manual_seed(seed)
    return dict(
        reference=torch.rand(4, h, w, generator=g),
        reference_conditions=torch.rand(7, h, w, generator=g),
        coarse=torch.rand(n, 4, h, w, generator=g),
        normal=torch.rand(n, 3, h, w, generator=g),
        camera=torch.randn(n, 12, generator=g),
    )


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return MVDiffPipeline(MultiViewUNet(get_config("tiny")))


def run(pipe, seed=0, **kw):
    args = {**dict(num_inference_steps=4, generator=torch.Generator().manual_seed(seed)), **kw}
    return pipe(**views(), **args)


def test_output_shape_range_and_determinism(pipe):
    a = run(pipe, seed=7)
    assert a.shape == (N, 4, HEIGHT, WIDTH) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, run(pipe, seed=7))
    assert not torch.equal(a, run(pipe, seed=8, strength=1.0))


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
@pytest.mark.parametrize("guidance_scale", [1.0, 2.0])
def test_schedulers_and_guidance(pipe, scheduler, guidance_scale):
    out = run(pipe, scheduler=scheduler, guidance_scale=guidance_scale, strength=1.0)
    assert out.shape == (N, 4, HEIGHT, WIDTH) and torch.isfinite(out).all()


class Spy(MultiViewUNet):
    """Records what the sampler hands the model."""

    def forward(self, noisy, timesteps, *args, **kwargs):
        self.calls.append((noisy.clone(), timesteps.clone()))
        return super().forward(noisy, timesteps, *args, **kwargs)


def test_strength_below_one_starts_near_the_coarse_views():
    torch.manual_seed(0)
    spy = Spy(get_config("tiny"))
    pipe = MVDiffPipeline(spy)
    inputs = views()
    ramp = torch.linspace(0, 1, WIDTH).expand(N, 4, HEIGHT, WIDTH)  # smooth: survives the resize
    inputs["coarse"] = ramp.clone()
    x_coarse = torch.nn.functional.interpolate(ramp, size=(32, 32), mode="bilinear", antialias=True) * 2 - 1
    alphas = pipe.make_scheduler("ddim").alphas_cumprod
    for strength, steps in ((0.2, 10), (1.0, 10)):
        spy.calls = []
        pipe(**inputs, num_inference_steps=steps, strength=strength, guidance_scale=1.0,
             generator=torch.Generator().manual_seed(0))
        assert len(spy.calls) == round(steps * strength)
        first, t = spy.calls[0]
        assert abs(int(t[0]) - strength * 1000) <= 1000 / steps
        corr = torch.corrcoef(torch.stack([first[0].flatten(), x_coarse.flatten()]))[0, 1]
        if strength < 1:
            # x_t = sqrt(abar) x_coarse + sqrt(1 - abar) noise: the correlation that predicts
            a, sd = alphas[int(t[0])].sqrt(), x_coarse.std()
            expected = a * sd / (a**2 * sd**2 + 1 - a**2).sqrt()
            assert expected > 0.5 and abs(corr - expected) < 0.05
        else:
            assert abs(corr) < 0.05  # pure noise


def test_model_size_output_equals_the_model_sample_and_full_size_keeps_coarse_detail(pipe):
    # At the model's own size the composition is exactly the model's x0; at a larger size the
    # detail band of the coarse views above the model's resolution is kept with detail=1 and
    # left out with detail=0.
    big = views(h=64, w=64)
    smooth = pipe(**big, num_inference_steps=2, detail=0.0, generator=torch.Generator().manual_seed(0))
    out = pipe(**big, num_inference_steps=2, detail=1.0, generator=torch.Generator().manual_seed(0))
    down = torch.nn.functional.interpolate(big["coarse"], size=(32, 32), mode="bilinear", antialias=True)
    up = torch.nn.functional.interpolate(down, size=(64, 64), mode="bilinear", antialias=True)
    detail = big["coarse"] - up
    out_detail = out - torch.nn.functional.interpolate(
        torch.nn.functional.interpolate(out, size=(32, 32), mode="bilinear", antialias=True),
        size=(64, 64), mode="bilinear", antialias=True)
    inside = (out > 0.02) & (out < 0.98)  # away from the clamp
    assert torch.corrcoef(torch.stack([detail[inside], out_detail[inside]]))[0, 1] > 0.9
    smooth_detail = smooth - torch.nn.functional.interpolate(
        torch.nn.functional.interpolate(smooth, size=(32, 32), mode="bilinear", antialias=True),
        size=(64, 64), mode="bilinear", antialias=True)
    assert smooth_detail.abs().mean() < 0.2 * out_detail.abs().mean()


def test_reference_streams_camera_and_extra_tokens(pipe):
    base = views()
    out = run(pipe, guidance_scale=2.0)
    one_stream = {**base, "reference": base["reference"][None],
                  "reference_conditions": base["reference_conditions"][None]}
    assert torch.equal(out, pipe(**one_stream, num_inference_steps=4, guidance_scale=2.0,
                                 generator=torch.Generator().manual_seed(0)))
    back = views(seed=3)
    two = {**base, "reference": torch.stack([base["reference"], back["reference"]]),
           "reference_conditions": torch.stack([base["reference_conditions"], back["reference_conditions"]])}
    two_out = pipe(**two, num_inference_steps=4, guidance_scale=2.0, generator=torch.Generator().manual_seed(0))
    assert two_out.shape == out.shape and (two_out - out).abs().max() > 1e-4
    camera = torch.zeros(2, 12)
    camera[:, [0, 4, 8]] = 1  # the photo's camera for both streams: the default
    assert torch.equal(two_out, pipe(**two, num_inference_steps=4, guidance_scale=2.0, reference_camera=camera,
                                     generator=torch.Generator().manual_seed(0)))
    tokens = torch.randn(3, pipe.config.cross_attention_dim, generator=torch.Generator().manual_seed(4))
    with_tokens = run(pipe, guidance_scale=2.0, extra_tokens=tokens)
    assert (with_tokens - out).abs().max() > 1e-4


@pytest.mark.parametrize(
    "name, bad",
    [
        ("reference", torch.rand(3, HEIGHT, WIDTH)),
        ("reference_conditions", torch.rand(7, HEIGHT, WIDTH + 1)),
        ("normal", torch.rand(N + 1, 3, HEIGHT, WIDTH)),
        ("camera", torch.rand(N, 9)),
        ("coarse", torch.rand(4, HEIGHT, WIDTH)),
        ("reference_camera", torch.rand(2, 12)),
        ("extra_tokens", torch.rand(3, 31)),
    ],
)
def test_bad_shapes_are_value_errors_naming_the_argument(pipe, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must have shape \(") as err:
        pipe(**{**views(), name: bad}, num_inference_steps=1)
    assert not isinstance(err.value, ConfigError)  # internal contract: keeps its traceback


def test_bad_options(pipe):
    with pytest.raises(ConfigError, match="strength"):
        pipe(**views(), strength=0.0)
    with pytest.raises(ConfigError, match="scheduler"):
        pipe(**views(), scheduler="euler")


def test_save_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["model", "scheduler_config.json"]
    again = MVDiffPipeline.from_pretrained(tmp_path / "p")
    assert again.scheduler_config == pipe.scheduler_config
    assert torch.equal(run(pipe, scheduler="dpm"), run(again, scheduler="dpm"))
    with pytest.raises(CheckpointError, match="not found"):
        MVDiffPipeline.from_pretrained(tmp_path / "q")


def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, sample_size=16,
    ).eval()


def latent_config():
    return dataclasses.replace(get_config("tiny"), name="tiny-latent", space="latent", sample_size=8,
                               condition_channels=8, prediction_type="epsilon")


def test_latent_pipeline_with_a_tiny_vae(tmp_path):
    torch.manual_seed(0)
    pipe = MVDiffPipeline(MultiViewUNet(latent_config()), vae=tiny_vae())
    inputs = views()
    out = pipe(**inputs, num_inference_steps=3, generator=torch.Generator().manual_seed(1))
    assert out.shape == (N, 4, HEIGHT, WIDTH) and out.min() >= 0 and out.max() <= 1
    assert torch.allclose(out[:, 3], inputs["coarse"][:, 3])  # alpha from the coarse views
    again = pipe(**inputs, num_inference_steps=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    pipe.save_pretrained(tmp_path / "p")
    assert (tmp_path / "p" / "vae" / "config.json").is_file()
    loaded = MVDiffPipeline.from_pretrained(tmp_path / "p")
    assert torch.equal(out, loaded(**inputs, num_inference_steps=3, generator=torch.Generator().manual_seed(1)))
    # A latent model without its VAE is refused with the folder named.
    import shutil

    shutil.rmtree(tmp_path / "p" / "vae")
    with pytest.raises(CheckpointError, match="vae"):
        MVDiffPipeline.from_pretrained(tmp_path / "p")
    with pytest.raises(ConfigError, match="vae"):
        MVDiffPipeline(MultiViewUNet(latent_config()))


class Constant(MultiViewUNet):
    """Predicts A for the subject with its reference and B for the one without (the two
    branches of classifier-free guidance), whatever its input."""

    A, B = 0.2, -0.4

    def forward(self, noisy, timesteps, *args, **kwargs):
        s = noisy.shape[0]
        values = torch.tensor([self.A, self.B])[:s].view(s, 1, 1, 1, 1)
        return values.expand_as(noisy).clone()


@pytest.mark.parametrize("guidance_scale", [0.0, 1.0, 1.5, 3.0])
def test_guidance_follows_its_formula(guidance_scale):
    """One DDIM step from noise with a sample-predicting model returns the guided prediction
    itself: B + w (A - B) with guidance w (just A at w = 1, which runs one branch), clipped to
    [-1, 1] and mapped to [0, 1]."""
    torch.manual_seed(0)
    model = Constant(get_config("tiny"))
    assert model.config.prediction_type == "sample"
    pipe = MVDiffPipeline(model)
    size = model.config.sample_size  # no resizing: the output is the model's sample
    out = pipe(**views(n=2, h=size, w=size), num_inference_steps=1, strength=1.0, guidance_scale=guidance_scale,
               detail=0.0, generator=torch.Generator().manual_seed(0))
    guided = Constant.B + guidance_scale * (Constant.A - Constant.B) if guidance_scale != 1.0 else Constant.A
    expected = (max(-1.0, min(1.0, guided)) + 1) / 2
    assert torch.allclose(out, torch.full_like(out, expected), atol=1e-5), (float(out.mean()), expected)


def test_the_scheduler_and_the_guidance_change_the_views(pipe):
    ddim = run(pipe, scheduler="ddim", strength=1.0, guidance_scale=1.0)
    dpm = run(pipe, scheduler="dpm", strength=1.0, guidance_scale=1.0)
    guided = run(pipe, scheduler="ddim", strength=1.0, guidance_scale=3.0)
    assert (ddim - dpm).abs().max() > 1e-3 and (ddim - guided).abs().max() > 1e-3
