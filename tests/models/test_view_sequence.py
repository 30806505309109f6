"""The view-sequence block: attention along the N views, plugged in after each transformer block."""

import copy
import dataclasses

import pytest
import torch

from humanmv.errors import ConfigError
from humanmv.models import MultiViewUNet, ViewSequenceAttention, get_config
from humanmv.models.config import MVDiffConfig
from humanmv.models.view_sequence import view_position_encoding, view_window_mask

H = 32


def make(**changes) -> MultiViewUNet:
    torch.manual_seed(0)
    return MultiViewUNet(dataclasses.replace(get_config("tiny"), **changes)).eval()


def inputs(n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return dict(
        noisy=torch.randn(1, n, 4, H, H, generator=g),
        timesteps=torch.full((1,), 500),
        conditions=torch.rand(1, n, 7, H, H, generator=g),
        camera=torch.randn(1, n, 12, generator=g),
        reference=torch.rand(1, 4, H, H, generator=g),
        reference_conditions=torch.rand(1, 7, H, H, generator=g),
    )


def perturb(model: MultiViewUNet, seed=0) -> MultiViewUNet:
    """Give every view-sequence block a non-zero output projection (as training would)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.view_sequence.values():
            block.to_out.weight.copy_(torch.randn(block.to_out.weight.shape, generator=g) * 0.5)
    return model


def with_view_changed(a, view, delta=1.0):
    b = {**a, "noisy": a["noisy"].clone()}
    b["noisy"][:, view] += delta
    return b


def test_the_block_starts_as_the_identity_and_mixes_views_once_trained():
    block = ViewSequenceAttention(16, heads=2)
    x = torch.randn(2 * 3, 5, 16)  # S=2 subjects x N=3 views, L=5 tokens
    assert torch.equal(block(x, num_views=3), x)
    perturb_block = copy.deepcopy(block)
    torch.nn.init.normal_(perturb_block.to_out.weight)
    y = x.clone()
    y[4] += torch.randn(5, 16)  # subject 1, view 1 (not a constant: LayerNorm removes those)
    out_x, out_y = perturb_block(x, 3), perturb_block(y, 3)
    assert (out_x[3] - out_y[3]).abs().max() > 1e-3  # the same subject's view 0 sees it
    assert torch.equal(out_x[:3], out_y[:3])  # the other subject does not


def test_position_encoding_orders_the_views():
    pe = view_position_encoding(4, 6)
    assert pe.shape == (4, 6)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 3))  # sin 0, cos 0
    assert len({tuple(row.tolist()) for row in pe}) == 4


def test_window_mask():
    assert view_window_mask(5, 0) is None
    assert view_window_mask(3, 5) is None  # the window covers every view
    mask = view_window_mask(5, 3)
    assert mask[0].tolist() == [True, True, False, False, False]
    assert view_window_mask(5, 3, cyclic=True)[0].tolist() == [True, True, False, False, True]


def test_off_by_default_and_the_unets_keys_are_untouched():
    for name in ("tiny", "small", "sd21"):
        assert not get_config(name).view_sequence
    base, on = make(), make(view_sequence=True)
    assert not hasattr(base, "view_sequence")
    new = set(on.state_dict()) - set(base.state_dict())
    assert new and all(k.startswith("view_sequence.") for k in new)
    assert set(base.state_dict()) <= set(on.state_dict())
    assert on.unet.state_dict().keys() == base.unet.state_dict().keys()
    assert len(on.view_sequence) == 4  # one per transformer block of the tiny UNet
    assert "up_blocks_0_attentions_1_transformer_blocks_0" in on.view_sequence


@torch.no_grad()
def test_a_fresh_block_equals_the_model_without_it_exactly():
    base = make()
    on = make(view_sequence=True)
    missing, unexpected = on.load_state_dict(base.state_dict(), strict=False)
    assert all(k.startswith("view_sequence.") for k in missing) and not unexpected
    a = inputs(n=3)
    assert torch.equal(on(**a), base(**a))


@torch.no_grad()
def test_with_the_block_views_interact_without_cross_view_attention():
    a = inputs()
    b = with_view_changed(a, 1)
    plain = make(cross_view=False)
    out_a, out_b = plain(**a), plain(**b)
    assert torch.equal(out_a[:, 0], out_b[:, 0])  # no path between views
    on = perturb(make(cross_view=False, view_sequence=True))
    out_a, out_b = on(**a), on(**b)
    assert (out_a[:, 0] - out_b[:, 0]).abs().max() > 1e-4


@torch.no_grad()
@pytest.mark.parametrize("cyclic", [False, True])
def test_a_window_limits_which_views_interact(cyclic):
    # 6 views, window 3: each block reaches one view further, and the tiny UNet has 4 blocks, so
    # view 5 reaches view 4 but not view 0, unless the views close a loop (5 and 0 neighbours).
    model = perturb(make(cross_view=False, view_sequence=True, view_sequence_window=3, view_sequence_cyclic=cyclic))
    a = inputs(n=6)
    out_a, out_b = model(**a), model(**with_view_changed(a, 5))
    assert (out_a[:, 4] - out_b[:, 4]).abs().max() > 1e-4
    if cyclic:
        assert (out_a[:, 0] - out_b[:, 0]).abs().max() > 1e-4
    else:
        assert torch.equal(out_a[:, 0], out_b[:, 0])


def test_gradient_checkpointing_and_deepcopy_keep_the_blocks_in_place():
    a = inputs()
    grads, outs = [], []
    for checkpointing in (False, True):
        model = perturb(make(cross_view=False, view_sequence=True)).train()
        if checkpointing:  # diffusers then calls the transformer blocks positionally
            model.enable_gradient_checkpointing()
        out = model(**a)
        out.square().mean().backward()
        outs.append(out.detach())
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if k.startswith("view_sequence.")})
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert grads[0].keys() == grads[1].keys() and all(g.abs().sum() > 0 for g in grads[0].values())
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-5, rtol=1e-4), k
    # A deep copy (the EMA's) runs its own blocks: zeroing the copy's leaves the original's.
    model = perturb(make(view_sequence=True)).eval()
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for block in twin.view_sequence.values():
            block.to_out.weight.zero_()
        assert torch.equal(twin(**a), make()(**a))
        assert not torch.equal(model(**a), twin(**a))


@torch.no_grad()
def test_blocks_can_be_added_to_a_checkpoint_trained_without_them(tmp_path):
    base = make()
    base.save_pretrained(tmp_path / "ck")
    on = MultiViewUNet.from_pretrained(tmp_path / "ck", view_sequence=True, view_sequence_window=3).eval()
    assert on.config.view_sequence and on.config.view_sequence_window == 3
    a = inputs(n=3)
    assert torch.equal(on(**a), base(**a))
    on.save_pretrained(tmp_path / "on")  # and the result round-trips with its blocks
    assert MultiViewUNet.from_pretrained(tmp_path / "on").config == on.config
    with pytest.raises(ConfigError, match="'wings'"):
        MultiViewUNet.from_pretrained(tmp_path / "ck", wings=2)


def test_config_fields_default_off_and_bad_windows_are_refused():
    old = get_config("small").to_dict()
    for k in ("view_sequence", "view_sequence_window", "view_sequence_cyclic"):
        old.pop(k)
    assert MVDiffConfig.from_dict(old) == get_config("small")  # a config.json from before loads
    for window in (2, -1):
        with pytest.raises(ConfigError, match="view_sequence_window"):
            dataclasses.replace(get_config("tiny"), view_sequence=True, view_sequence_window=window)
