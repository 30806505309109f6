"""The U-Net discriminator, the segmentation and binary GAN losses, R1, and a few G + D steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from humanmv.models.gan3d import (GAN3DGenerator, UNetDiscriminator, class_balance_weights, get_gan3d_config,
                                  label_targets, nonsaturating_d_loss, nonsaturating_g_loss, r1_penalty,
                                  realness_score, segmentation_d_loss, segmentation_g_loss)


def _images(config, B: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, config.image_height, config.image_width, generator=g) * 2 - 1


def test_output_shapes_in_both_modes(tiny):
    torch.manual_seed(0)
    rgb = _images(tiny, 2)
    seg = UNetDiscriminator(tiny)(rgb)
    assert seg.logits.shape == (2, 2 + tiny.num_parts, 32, 16) and seg.image_logit is None
    binary = UNetDiscriminator(get_gan3d_config("tiny", disc_loss="binary"))
    out = binary(rgb)
    assert out.image_logit.shape == (2,) and out.logits is None
    assert not hasattr(binary, "up")  # no decoder: every parameter gets a gradient
    with_mask = UNetDiscriminator(get_gan3d_config("tiny", disc_with_mask=True))
    mask = torch.zeros(2, 1, 32, 16)
    a, b = with_mask(rgb, mask).logits, with_mask(rgb, mask + 1).logits
    assert a.shape == seg.logits.shape and not torch.allclose(a, b)
    with pytest.raises(AssertionError):
        with_mask(rgb)
    with pytest.raises(AssertionError):
        UNetDiscriminator(tiny)(rgb, mask)


def test_label_targets_and_class_balance():
    labels = torch.tensor([[[-1, -1, -1, 0], [-1, -1, 3, 3]]])
    targets = label_targets(labels, 4)
    assert torch.equal(targets, torch.tensor([[[1, 1, 1, 2], [1, 1, 5, 5]]]))
    w = class_balance_weights(targets, 6)
    assert abs(float(w.mean()) - 1) < 1e-6
    assert float(w[0, 0, 3]) > float(w[0, 1, 2]) > float(w[0, 0, 0])  # rarer classes weigh more
    with pytest.raises(AssertionError):
        label_targets(torch.tensor([[[4]]]), 4)


def _logits_for(targets: torch.Tensor, classes: int, confidence: float) -> torch.Tensor:
    return confidence * F.one_hot(targets, classes).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("balance", [True, False])
def test_segmentation_losses_are_lower_for_the_right_classes(tiny, balance):
    g = torch.Generator().manual_seed(0)
    K = tiny.num_parts + 2
    labels = torch.randint(-1, tiny.num_parts, (2, 32, 16), generator=g)
    targets = label_targets(labels, tiny.num_parts)
    right_real = _logits_for(targets, K, 8.0)
    right_fake = _logits_for(torch.zeros_like(targets), K, 8.0)
    wrong_real = _logits_for(torch.zeros_like(targets), K, 8.0)  # calls the real images fake
    good = segmentation_d_loss(right_real, labels, right_fake, balance)
    bad = segmentation_d_loss(wrong_real, labels, right_real, balance)
    assert float(good) < 0.05 < 5 < float(bad)
    assert float(segmentation_g_loss(right_real, labels, balance)) < 0.05 < 5 < float(
        segmentation_g_loss(right_fake, labels, balance))
    uniform = segmentation_g_loss(torch.zeros(2, K, 32, 16), labels, balance)
    assert abs(float(uniform) - math.log(K)) < 1e-5


def test_nonsaturating_losses():
    zero = torch.zeros(3)
    assert abs(float(nonsaturating_d_loss(zero, zero)) - 2 * math.log(2)) < 1e-6
    assert abs(float(nonsaturating_g_loss(zero)) - math.log(2)) < 1e-6
    assert float(nonsaturating_d_loss(torch.full((3,), 9.0), torch.full((3,), -9.0))) < 1e-3
    assert float(nonsaturating_g_loss(torch.full((3,), 9.0))) < 1e-3


def test_r1_is_the_squared_input_gradient(tiny):
    images = _images(tiny, 2).requires_grad_(True)
    a = torch.randn(3, 32, 16)
    assert abs(float(r1_penalty((images * a).sum((1, 2, 3)), images)) - float(a.square().sum())) < 1e-3
    torch.manual_seed(0)
    for config in (tiny, get_gan3d_config("tiny", disc_loss="binary")):
        disc = UNetDiscriminator(config)
        real = _images(config, 2, seed=1).requires_grad_(True)
        score = realness_score(disc(real))
        assert score.shape == (2,)
        penalty = r1_penalty(score, real)
        assert float(penalty.detach()) > 0
        penalty.backward()
        # Every weight reaches D's input gradient (biases do not: they add constants).
        grads = [p.grad for p in disc.parameters() if p.ndim > 1]
        assert all(g is not None and float(g.abs().sum()) > 0 for g in grads)
    with pytest.raises(AssertionError):
        r1_penalty(score, _images(tiny, 2))


@pytest.mark.parametrize("disc_loss", ["segmentation", "binary"])
def test_a_few_gan_steps_on_a_toy_batch(disc_loss, toy_samples):
    """Alternating D (with R1) and G steps on 2 images: finite losses, both networks move, and D
    learns to tell the fixed real batch from G's images."""
    config = get_gan3d_config("tiny", disc_loss=disc_loss)
    torch.manual_seed(0)
    gen, disc = GAN3DGenerator(config).train(), UNetDiscriminator(config).train()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.0, 0.99))
    samples = toy_samples(config, 2)
    labels = F.interpolate(samples.labels[:, None].float(), size=(32, 16), mode="nearest")[:, 0].long()
    real = _images(config, 2, seed=3)
    z = torch.randn(2, config.z_dim, generator=torch.Generator().manual_seed(4))
    g_before = [p.detach().clone() for p in gen.parameters()]
    d_losses = []
    for _ in range(8):
        fake = gen(z, samples).rgb.detach()
        real_in = real.clone().requires_grad_(True)
        out_real, out_fake = disc(real_in), disc(fake)
        if disc_loss == "segmentation":
            loss_d = segmentation_d_loss(out_real.logits, labels, out_fake.logits)
        else:
            loss_d = nonsaturating_d_loss(out_real.image_logit, out_fake.image_logit)
        loss_d = loss_d + 0.1 * r1_penalty(realness_score(out_real), real_in)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_losses.append(float(loss_d.detach()))
        out_g = disc(gen(z, samples).rgb)
        loss_g = (segmentation_g_loss(out_g.logits, labels) if disc_loss == "segmentation"
                  else nonsaturating_g_loss(out_g.image_logit))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        assert math.isfinite(float(loss_d.detach())) and math.isfinite(float(loss_g.detach()))
    assert all(torch.isfinite(p).all() for p in list(gen.parameters()) + list(disc.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gen.parameters()))
    assert d_losses[-1] < d_losses[0]
