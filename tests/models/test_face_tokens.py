"""Identity and face-shape tokens: shapes, the ablation switches, a photo without a face, and
the tokens steering a tiny multi-view UNet through its extra tokens."""

from __future__ import annotations

import pytest
import torch

from humanmv.models import MultiViewUNet, get_config
from humanmv.models.face_tokens import FaceTokens, FaceTokensConfig

SHAPE = 6 + 5


@pytest.mark.parametrize("use_identity, use_shape, count", [(True, True, 6), (True, False, 4), (False, True, 2),
                                                            (False, False, 0)])
def test_token_counts_follow_the_switches(use_identity, use_shape, count):
    config = FaceTokensConfig(32, SHAPE, identity_tokens=4, shape_tokens=2, hidden=16,
                              use_identity=use_identity, use_shape=use_shape)
    tokens = FaceTokens(config)(torch.randn(3, 128), torch.ones(3, dtype=torch.bool), torch.rand(3, SHAPE))
    assert config.num_tokens == count and tokens.shape == (3, count, 32)


def test_identity_is_scale_free_and_missing_faces_give_zero_tokens():
    torch.manual_seed(0)
    model = FaceTokens(FaceTokensConfig(32, SHAPE, identity_tokens=4, shape_tokens=2, hidden=16))
    identity, shape = torch.randn(2, 128), torch.rand(2, SHAPE)
    has = torch.tensor([True, False])
    a = model(identity, has, shape)
    b = model(identity * 3.0, has, shape)  # dlib embeddings are not unit length: only the direction counts
    assert torch.allclose(a, b, atol=1e-5)
    assert (a[1, :4] == 0).all() and a[0, :4].abs().sum() > 0
    assert torch.allclose(a[1, 4:].norm(dim=-1), a[0, 4:].norm(dim=-1), rtol=0.5)  # shape tokens still there
    other = model(torch.randn(2, 128), has, shape)
    assert not torch.allclose(other[0, :4], a[0, :4])


def test_the_tokens_reach_the_unet():
    torch.manual_seed(0)
    config = get_config("tiny")
    unet = MultiViewUNet(config)
    tokens = FaceTokens(FaceTokensConfig(config.cross_attention_dim, SHAPE, identity_tokens=2, shape_tokens=2, hidden=16))
    s, n, h = 1, 2, config.sample_size
    kwargs = dict(noisy=torch.randn(s, n, config.image_channels, h, h), timesteps=torch.tensor([500]),
                  conditions=torch.randn(s, n, config.condition_channels, h, h), camera=torch.randn(s, n, 12),
                  reference=torch.rand(s, config.image_channels, h, h),
                  reference_conditions=torch.rand(s, config.condition_channels, h, h))
    identity, has = torch.randn(s, 128), torch.ones(s, dtype=torch.bool)
    out = unet(**kwargs, extra_tokens=tokens(identity, has, torch.rand(s, SHAPE)))
    again = unet(**kwargs, extra_tokens=tokens(torch.randn(s, 128), has, torch.rand(s, SHAPE)))
    assert out.shape == (s, n, config.image_channels, h, h)
    assert not torch.allclose(out, again)  # another identity, another output
    out.square().mean().backward()
    assert tokens.identity_proj.weight.grad.abs().sum() > 0 and tokens.shape_mlp[0].weight.grad.abs().sum() > 0
