"""Reference attention with R reference streams per subject, and extra cross-attention tokens."""

import sys
from pathlib import Path

import torch

from humanmv.models import MultiViewUNet, get_config
from humanmv.models.camera import identity_camera

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_unet import tiny_inputs, tiny_model  # noqa: E402

S, N, R, H = 1, 2, 2, 32


def make(**changes) -> MultiViewUNet:
    return tiny_model(**changes)


def inputs(s=S, n=N, r=R, seed=1):
    return tiny_inputs(s, n, streams=r, seed=seed)


def changed(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def second_stream_replaced(a, value):
    b = {**a, "reference": a["reference"].clone()}
    b["reference"][:, 1] = value
    return b


@torch.no_grad()
def test_one_stream_with_or_without_the_stream_axis_is_the_same():
    model = make()
    a = inputs(r=1)
    flat = {**a, "reference": a["reference"][:, 0], "reference_conditions": a["reference_conditions"][:, 0]}
    assert torch.equal(model(**a), model(**flat))


@torch.no_grad()
def test_the_second_stream_changes_the_output_and_dropping_removes_both():
    model = make()
    a = inputs()
    out = model(**a)
    assert changed(out, model(**second_stream_replaced(a, 1 - a["reference"][:, 1]))) > 1e-4
    assert changed(out, model(**second_stream_replaced(a, 0.0))) > 1e-4  # zeroed stream
    assert changed(out, model(**inputs(r=1))) > 1e-4  # two streams are not one
    drop = torch.tensor([True])
    dropped = model(**a, drop_reference=drop)
    # A dropped subject sees none of its streams: any references, any number of them, give the
    # same output (zero image tokens, reference keys masked out).
    assert torch.equal(dropped, model(**second_stream_replaced(a, 0.0), drop_reference=drop))
    other = inputs(r=1, seed=5)
    assert torch.equal(dropped, model(**{**a, "reference": other["reference"],
                                         "reference_conditions": other["reference_conditions"]}, drop_reference=drop))


@torch.no_grad()
def test_each_stream_reaches_the_views_through_reference_attention_alone():
    # Zero the image encoder: only the attn1 reference keys/values carry the references.
    model = make()
    model.image_encoder.proj.weight.zero_()
    model.image_encoder.proj.bias.zero_()
    a = inputs()
    out = model(**a)
    for stream in range(R):
        b = {**a, "reference": a["reference"].clone()}
        b["reference"][:, stream] = 1 - b["reference"][:, stream]
        assert changed(out, model(**b)) > 1e-4, stream


def test_the_reference_pass_runs_every_kept_stream_once():
    model = make()
    a = inputs(s=2)
    with torch.no_grad():
        state = model.encode_reference(a["reference"], a["reference_conditions"], torch.tensor([False, True]))
    assert state.ref_index.tolist() == [[0, 1], [-1, -1]]
    assert all(v.shape[0] == R for v in state.bank.values())  # 1 kept subject x 2 streams
    assert state.tokens.shape == (2, R * model.config.num_image_tokens, model.config.cross_attention_dim)
    assert not state.tokens[1].any()


@torch.no_grad()
def test_batched_subjects_with_two_streams_match_single_runs():
    model = make()
    a = inputs(s=2)
    one = lambda i: {k: v[i : i + 1] for k, v in a.items()}  # noqa: E731
    both = model(**a, drop_reference=torch.tensor([False, True]))
    assert torch.allclose(both[0], model(**one(0))[0], atol=1e-5)
    assert torch.allclose(both[1], model(**one(1), drop_reference=torch.tensor([True]))[0], atol=1e-5)


@torch.no_grad()
def test_reference_camera_defaults_to_the_photo_camera_and_matters():
    model = make()
    a = inputs()
    out = model(**a)
    assert torch.equal(out, model(**a, reference_camera=identity_camera(R).expand(S, R, 12)))
    back = identity_camera(R).clone()
    back[1, :9] = torch.diag(torch.tensor([-1.0, 1.0, -1.0])).flatten()  # the back view: 180 degrees
    back[1, 9:] = torch.tensor([0.0, 0.0, 1.0])
    assert changed(out, model(**a, reference_camera=back[None])) > 1e-4


def extra(seed=2, s=S, t=3):
    return torch.randn(s, t, get_config("tiny").cross_attention_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_extra_tokens_change_the_output_unless_the_subject_is_dropped():
    model = make()
    a = inputs()
    out = model(**a)
    with_extra = model(**a, extra_tokens=extra())
    assert changed(out, with_extra) > 1e-4
    assert changed(with_extra, model(**a, extra_tokens=extra(seed=3))) > 1e-4
    assert changed(with_extra, model(**a, extra_tokens=torch.zeros_like(extra()))) > 1e-4
    # Dropped: the extra tokens are zeroed like the image tokens, so the output is that of the
    # model given no extra tokens at all.
    drop = torch.tensor([True])
    assert torch.equal(model(**a, drop_reference=drop), model(**a, extra_tokens=extra(), drop_reference=drop))


@torch.no_grad()
def test_extra_tokens_to_forward_or_to_encode_reference_act_the_same():
    model = make()
    a = inputs(s=2)
    drop = torch.tensor([False, True])
    tokens = extra(s=2)
    state = model.encode_reference(a["reference"], a["reference_conditions"], drop, extra_tokens=tokens)
    assert state.tokens.shape[1] == R * model.config.num_image_tokens + 3
    assert not state.tokens[1].any()
    plain = model.encode_reference(a["reference"], a["reference_conditions"], drop)
    target = {k: a[k] for k in ("noisy", "timesteps", "conditions", "camera")}
    want = model(**target, reference_state=state)
    assert torch.equal(want, model(**target, reference_state=plain, extra_tokens=tokens))
    assert torch.equal(want, model(**a, drop_reference=drop, extra_tokens=tokens))
