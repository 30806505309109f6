import sys
from pathlib import Path

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from humanmv.models import MultiViewUNet
from humanmv.models.attention import (
    ImageCrossAttnProcessor,
    MultiViewContext,
    MultiViewSelfAttnProcessor,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_unet import tiny_inputs, tiny_model  # noqa: E402

S, N, H = 1, 2, 32


def make(**changes) -> MultiViewUNet:
    return tiny_model(**changes)


def inputs(s=S, n=N, seed=1):
    return tiny_inputs(s, n, seed=seed)


def test_processors_are_plugged_into_every_attention_layer():
    model = make()
    procs = model.unet.attn_processors
    attn1 = [p for name, p in procs.items() if name.endswith("attn1.processor")]
    attn2 = [p for name, p in procs.items() if name.endswith("attn2.processor")]
    assert attn1 and len(attn1) == len(attn2)
    assert all(isinstance(p, MultiViewSelfAttnProcessor) for p in attn1)
    assert all(isinstance(p, ImageCrossAttnProcessor) for p in attn2)
    # No attention at the first (highest resolution) level of the tiny config.
    assert not any(name.startswith("down_blocks.0") for name in procs)


def test_without_context_the_processor_is_plain_self_attention():
    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=2, dim_head=8)
    x = torch.randn(3, 10, 16)
    want = AttnProcessor2_0()(attn, x)
    got = MultiViewSelfAttnProcessor("a")(attn, x)
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("cross_view", [True, False])
def test_cross_view_attention_mixes_views(cross_view):
    model = make(cross_view=cross_view)
    a = inputs()
    b = {**a, "noisy": a["noisy"].clone()}
    b["noisy"][:, 1] += 1.0  # change view 1 only
    with torch.no_grad():
        out_a, out_b = model(**a), model(**b)
    view0_changed = (out_a[:, 0] - out_b[:, 0]).abs().max().item()
    assert (out_a[:, 1] - out_b[:, 1]).abs().max() > 1e-3
    if cross_view:
        assert view0_changed > 1e-4
    else:
        assert view0_changed < 1e-6


def test_reference_changes_the_output_unless_dropped():
    model = make()
    a = inputs()
    b = {**a, "reference": 1 - a["reference"], "reference_conditions": 1 - a["reference_conditions"]}
    with torch.no_grad():
        assert (model(**a) - model(**b)).abs().max() > 1e-4
        drop = torch.tensor([True])
        assert torch.equal(model(**a, drop_reference=drop), model(**b, drop_reference=drop))


def test_reference_attention_alone_changes_the_output():
    # Zero the image encoder so only the attn1 reference keys/values carry the reference.
    model = make()
    with torch.no_grad():
        model.image_encoder.proj.weight.zero_()
        model.image_encoder.proj.bias.zero_()
    a = inputs()
    b = {**a, "reference": 1 - a["reference"]}
    with torch.no_grad():
        assert (model(**a) - model(**b)).abs().max() > 1e-4
    off = make(reference_attention=False)
    with torch.no_grad():
        off.image_encoder.proj.weight.zero_()
        off.image_encoder.proj.bias.zero_()
        assert torch.allclose(off(**a), off(**b), atol=1e-6)


def test_reference_pass_stores_every_self_attention_layer():
    model = make()
    a = inputs(s=2)
    state = model.encode_reference(a["reference"], a["reference_conditions"], torch.tensor([False, True]))
    names = [n for n in model.unet.attn_processors if n.endswith("attn1.processor")]
    assert sorted(state.bank) == sorted(names)
    assert all(v.shape[0] == 1 for v in state.bank.values())  # only the kept subject ran
    assert state.ref_index.tolist() == [[0], [-1]]  # (S, R): bank row of each subject's stream
    assert state.keep.tolist() == [True, False]
    assert torch.equal(state.tokens[1], torch.zeros_like(state.tokens[1]))


def test_batched_subjects_with_and_without_reference_match_single_runs():
    model = make()
    a = inputs(s=2)
    one = lambda i: {k: v[i : i + 1] for k, v in a.items()}  # noqa: E731
    with torch.no_grad():
        both = model(**a, drop_reference=torch.tensor([False, True]))
        first = model(**one(0), drop_reference=torch.tensor([False]))
        second = model(**one(1), drop_reference=torch.tensor([True]))
    assert torch.allclose(both[0], first[0], atol=1e-5)
    assert torch.allclose(both[1], second[0], atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    a = inputs()
    grads = []
    for checkpointing in (False, True):
        model = make().train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(**a).square().mean().backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    # The reference pass's attn1 layers get gradients through the stored tokens.
    assert any("attn1.to_q" in k for k in grads[0])
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-5, rtol=1e-4), k


def test_context_default_is_no_reference():
    ctx = MultiViewContext()
    assert ctx.num_views == 1 and ctx.mode == "none" and ctx.bank == {}
