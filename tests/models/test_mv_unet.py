import sys
import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file, save_file

from humanmv.errors import CheckpointError, ConfigError
from humanmv.models import MultiViewUNet, get_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_unet import tiny_inputs  # noqa: E402


H = 32


def inputs(s=1, n=2, seed=1, size=H):
    return tiny_inputs(s, n, seed=seed, size=size, timesteps=(0, 1000))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MultiViewUNet(get_config("tiny")).eval()


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    return tiny.save_pretrained(tmp_path_factory.mktemp("ckpt") / "tiny")


def test_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    model = MultiViewUNet(get_config("tiny"))
    out = model(**inputs())
    out.square().mean().backward()
    assert out.shape == (1, 2, 4, H, H)
    assert all(p.grad is not None for p in model.image_encoder.parameters())
    # every UNet parameter takes part in the forward pass: each one receives a gradient
    no_grad = [n for n, p in model.unet.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    assert model.unet.conv_in.weight.grad.abs().sum() > 0 and model.unet.conv_out.weight.grad.abs().sum() > 0


def test_bad_shapes_are_value_errors_naming_the_argument(tiny):
    # Our own code builds these tensors: a mismatch is a bug and keeps its traceback.
    a = inputs()
    bad = {
        "conditions": a["conditions"][:, :, :4],
        "camera": a["camera"][:, :1],
        "reference": a["reference"][:, :3],
        "reference_conditions": a["reference_conditions"][..., :16],
        "timesteps": a["timesteps"].repeat(2),
    }
    for name, value in bad.items():
        with pytest.raises(ValueError, match=f"MultiViewUNet: {name} must have shape") as err:
            tiny(**{**a, name: value})
        assert not isinstance(err.value, ConfigError)
    with pytest.raises(ValueError, match="extra_tokens"):
        tiny(**a, extra_tokens=torch.zeros(1, 3, 7))
    with pytest.raises(ValueError, match="reference_camera"):
        tiny(**a, reference_camera=torch.zeros(1, 2, 12))


def test_save_load_round_trip_is_identical(tiny, saved):
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]
    loaded = MultiViewUNet.from_pretrained(saved).eval()
    assert loaded.config == tiny.config
    a = inputs()
    with torch.no_grad():
        assert torch.equal(tiny(**a), loaded(**a))


def test_save_replaces_an_existing_checkpoint_and_leaves_no_temp_files(tiny, tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "stale.txt").write_text("old")
    tiny.save_pretrained(tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def _copy(saved, tmp_path):
    dst = tmp_path / "ck"
    dst.mkdir()
    for f in saved.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _edit_weights(folder, edit):
    tensors = load_file(folder / "model.safetensors")
    edit(tensors)
    save_file(tensors, folder / "model.safetensors")


@pytest.mark.parametrize(
    "damage, file, words",
    [
        (lambda d: (d / "config.json").unlink(), "config.json", "missing"),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors", "missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "config.json", "not valid JSON"),
        (lambda d: (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()),
                                                               "wings": 2})), "config.json", "'wings'"),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "model.safetensors", "safetensors"),
        (lambda d: _edit_weights(d, lambda t: t.pop("unet.conv_out.bias")), "model.safetensors",
         "missing tensor 'unet.conv_out.bias'"),
        (lambda d: _edit_weights(d, lambda t: t.update(extra=torch.zeros(2))), "model.safetensors",
         "unexpected tensor 'extra'"),
        (lambda d: _edit_weights(d, lambda t: t.update({"unet.conv_out.bias": torch.zeros(5)})),
         "model.safetensors", r"'unet.conv_out.bias' has shape \(5\) but the model expects \(4\)"),
    ],
)
def test_every_checkpoint_problem_names_the_file(saved, tmp_path, damage, file, words):
    folder = _copy(saved, tmp_path)
    damage(folder)
    with pytest.raises(CheckpointError, match=words) as err:
        MultiViewUNet.from_pretrained(folder)
    assert str(folder / file) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope"):
        MultiViewUNet.from_pretrained(tmp_path / "nope")


def _plain_unet(config, seed=0):
    torch.manual_seed(seed)
    return UNet2DConditionModel(**config.unet_kwargs(plain=True)).eval()


def _compare_inner_unets(ours, plain, config, size, n=1):
    """Our UNet on [x, zero conditions] vs the plain UNet on x: the same network."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, config.image_channels, size, size, generator=g)
    t = torch.tensor([321] * n)
    tokens = torch.randn(n, 4, config.cross_attention_dim, generator=g)
    zeros = torch.zeros(n, config.condition_channels, size, size)
    with torch.no_grad():
        want = plain(x, t, encoder_hidden_states=tokens).sample
        got = ours.unet(torch.cat([x, zeros], 1), t, encoder_hidden_states=tokens,
                        class_labels=torch.randn(n, 12, generator=g)).sample
    return got, want


def test_from_diffusers_unet_round_trip(tmp_path):
    config = get_config("tiny")
    plain = _plain_unet(config)
    plain.save_pretrained(tmp_path / "unet")
    ours = MultiViewUNet.from_diffusers_unet(tmp_path / "unet", config).eval()
    mine = ours.unet.state_dict()
    theirs = plain.state_dict()
    extra = {k for k in mine if k.startswith("class_embedding.")}
    assert extra and set(mine) == set(theirs) | extra  # the plain UNet's keys + the camera projection
    for k, v in theirs.items():
        if k == "conv_in.weight":
            assert mine[k].shape == (v.shape[0], config.image_channels + config.condition_channels, *v.shape[2:])
            assert torch.equal(mine[k][:, :4], v) and not mine[k][:, 4:].any()  # extra channels start at zero
        else:
            assert torch.equal(mine[k], v), k
    # the camera projection starts at zero: any camera adds nothing to the time embedding
    cameras = torch.randn(5, config.camera_dim, generator=torch.Generator().manual_seed(4)) * 10
    with torch.no_grad():
        assert torch.equal(ours.unet.class_embedding(cameras), torch.zeros(5, ours.unet.class_embedding.linear_2.out_features))
    got, want = _compare_inner_unets(ours, plain, config, size=16, n=2)
    assert got.shape == want.shape == (2, config.image_channels, 16, 16)
    assert torch.allclose(got, want, atol=1e-5)
    # zero extra channels: whatever the conditions are, the output is the plain UNet's
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, config.image_channels, 16, 16, generator=g)
    t = torch.tensor([321, 321])
    tokens = torch.randn(2, 4, config.cross_attention_dim, generator=g)
    conditions = torch.rand(2, config.condition_channels, 16, 16, generator=g)
    with torch.no_grad():
        cond = ours.unet(torch.cat([x, conditions], 1), t, encoder_hidden_states=tokens,
                         class_labels=torch.randn(2, 12, generator=g)).sample
    assert torch.allclose(cond, want, atol=1e-5)


def test_from_diffusers_unet_mismatches_name_the_file(tmp_path):
    config = get_config("tiny")
    with pytest.raises(CheckpointError, match="not found"):
        MultiViewUNet.from_diffusers_unet(tmp_path / "none", config)
    other = _plain_unet(get_config("small"))
    other.save_pretrained(tmp_path / "small")
    with pytest.raises(CheckpointError, match="block_out_channels") as err:
        MultiViewUNet.from_diffusers_unet(tmp_path / "small", config)
    assert str(tmp_path / "small" / "config.json") in str(err.value)
    # Right config, wrong weights: the shape check names the weights file.
    _plain_unet(config).save_pretrained(tmp_path / "tiny")
    weights = tmp_path / "tiny" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["conv_out.bias"] = torch.zeros(3)
    save_file(tensors, weights)
    with pytest.raises(CheckpointError, match="conv_out.bias") as err:
        MultiViewUNet.from_diffusers_unet(tmp_path / "tiny", config)
    assert str(weights) in str(err.value)
    weights.unlink()
    with pytest.raises(CheckpointError, match="missing") as err:
        MultiViewUNet.from_diffusers_unet(tmp_path / "tiny", config)
    assert str(weights) in str(err.value)


def test_sd21_unet_loads_from_a_diffusers_folder():
    """Acceptance: Stable Diffusion 2.1's real UNet shapes fit our model: every plain parameter
    has its place and shape (conv_in takes the 8 condition channels more), ours adds only the
    camera projection. Shapes only, on the meta device; the loading numerics are
    test_from_diffusers_unet_round_trip's, on the tiny config."""
    config = get_config("sd21")
    with torch.device("meta"):
        plain = UNet2DConditionModel(**config.unet_kwargs(plain=True))
        ours = MultiViewUNet(config)
    assert sum(p.numel() for p in plain.parameters()) == 865_910_724  # SD 2.1's UNet
    shapes = {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    mine = {k: tuple(v.shape) for k, v in ours.unet.state_dict().items()}
    extra = {k for k in mine if k.startswith("class_embedding.")}
    assert extra and set(mine) == set(shapes) | extra
    assert not any(k.startswith("class_embedding.") for k in shapes)
    assert mine["conv_in.weight"] == (320, 12, 3, 3) and shapes["conv_in.weight"] == (320, 4, 3, 3)
    assert [k for k in shapes if mine[k] != shapes[k]] == ["conv_in.weight"]


# (tensors, parameters, sha256 of the sorted "key:shape" lines)[:16] of each named config's
# state dict, as the shipped weights and diffusers UNet folders have them: new building blocks
# must not rename or reshape any of them.
STATE_DICT_FINGERPRINTS = {
    "tiny": (221, 261_564, "de1579ef7f01bf23"),
    "small": (381, 10_999_908, "41ad30229692ce70"),
    "sd21": (703, 869_685_380, "7a00989a9f2ecbad"),
}


def _fingerprint(state: dict) -> tuple[int, int, str]:
    import hashlib

    text = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(state.items()))
    return len(state), sum(v.numel() for v in state.values()), hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(STATE_DICT_FINGERPRINTS))
def test_named_configs_keep_their_parameter_names_and_shapes(name):
    with torch.device("meta"):  # shapes only: sd21 costs no memory
        model = MultiViewUNet(get_config(name))
    assert _fingerprint(model.state_dict()) == STATE_DICT_FINGERPRINTS[name]


def test_the_shipped_weights_load():
    import humanmv

    folder = Path(humanmv.__file__).parent / "weights" / "mvdiff-small" / "model"
    model = MultiViewUNet.from_pretrained(folder)
    assert model.config == get_config("small")
    assert _fingerprint(model.state_dict()) == STATE_DICT_FINGERPRINTS["small"]
