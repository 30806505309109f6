"""Every input of MultiViewUNet reaches its output: changing it, or zeroing it, changes the
prediction. And the input conditions are what their name says: channels concatenated to the
noisy views."""

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

from humanmv.models import MultiViewUNet, get_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_unet import tiny_inputs, tiny_model  # noqa: E402


S, N, R, H, T = 1, 2, 2, 32, 3


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def inputs(seed=1):
    out = tiny_inputs(S, N, streams=R, seed=seed, timesteps=(1, 1000), reference_camera=True)
    g = torch.Generator().manual_seed(seed + 1000)
    out["extra_tokens"] = torch.randn(S, T, get_config("tiny").cross_attention_dim, generator=g)
    return out


def replaced(a: dict, name: str, value: torch.Tensor, stream: int | None = None) -> dict:
    if stream is None:
        return {**a, name: value}
    x = a[name].clone()
    x[:, stream] = value[:, stream]
    return {**a, name: x}


CASES = [(name, None) for name in inputs()] + [
    (name, stream) for name in ("reference", "reference_conditions", "reference_camera") for stream in range(R)
]


@torch.no_grad()
@pytest.mark.parametrize("name, stream", CASES, ids=[f"{n}{'' if r is None else f'[{r}]'}" for n, r in CASES])
def test_changing_or_zeroing_each_input_changes_the_output(model, name, stream):
    a, other = inputs(), inputs(seed=2)
    out = model(**a)
    for label, value in (("changed", other[name]), ("zeroed", torch.zeros_like(a[name]))):
        diff = (model(**replaced(a, name, value, stream)) - out).abs().max().item()
        assert diff > 1e-4, (label, diff)


@torch.no_grad()
def test_conditions_enter_as_input_channels_of_the_unet(model):
    c = model.config
    assert model.unet.conv_in.in_channels == c.image_channels + c.condition_channels
    # With conv_in's condition channels zeroed, the conditions have no effect at all (the
    # reference pass's conditions go through the same layer).
    cut = MultiViewUNet(c).eval()
    cut.load_state_dict(model.state_dict())
    cut.unet.conv_in.weight[:, c.image_channels:] = 0
    a = inputs()
    b = {**a, "conditions": 1 - a["conditions"], "reference_conditions": 1 - a["reference_conditions"]}
    assert torch.equal(cut(**a), cut(**b))
    assert not torch.equal(model(**a), model(**b))


@torch.no_grad()
def test_a_model_without_input_conditions():
    torch.manual_seed(0)
    model = MultiViewUNet(dataclasses.replace(get_config("tiny"), condition_channels=0)).eval()
    assert model.unet.conv_in.in_channels == 4
    a = {**inputs(), "conditions": None, "reference_conditions": None}
    assert model(**a).shape == (S, N, 4, H, H)
    with pytest.raises(ValueError, match="conditions missing"):
        MultiViewUNet(get_config("tiny"))(**a)
