"""3DHumanGAN's GAN losses: the per-pixel segmentation loss, the binary ablation, R1.

Segmentation GAN loss (OASIS, Sushko et al. 2021; 3DHumanGAN sec. 3.2): the U-Net discriminator
classifies every pixel as 0 = fake, 1 = background or 2 + k = body part k.
- D step: real images -> their label map (`label_targets`), generated images -> class 0.
- G step: generated images -> the label map they were conditioned on (the posed body's parts
  rendered at the image resolution), so G must draw each part where the body is.
Optional class balancing (OASIS): pixel weights N / (n_present * count_c), rarer classes (hands,
feet) weigh more; the weights average 1 over the batch.

Binary ablation: the non-saturating logistic loss on the image-level logit.

R1 (Mescheder et al. 2018): the squared gradient norm of D's realness score at real images,
`realness_score` (segmentation: the per-pixel log-odds of any real class against fake, averaged
over pixels; binary: the image logit).

Label maps: [B, H, W] int64 part labels in 0..K-1 (`PART_NAMES` order), -1 on the background
(the renderer's `labels`). Labels of garments (`shells.labels` 16..21) are not part classes: map
them to the parts they cover before calling these.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from humanmv.models.gan3d.discriminator import DiscriminatorOutput

FAKE, BACKGROUND, FIRST_PART = 0, 1, 2


def label_targets(labels: torch.Tensor, num_parts: int) -> torch.Tensor:
    """[B, H, W] labels (-1 background, 0..K-1 parts) -> [B, H, W] int64 classes of the
    discriminator: 1 = background, 2 + k = part k."""
    assert labels.ndim == 3, labels.shape
    assert int(labels.min()) >= -1 and int(labels.max()) < num_parts, \
        f"labels must lie in -1..{num_parts - 1}, got {int(labels.min())}..{int(labels.max())}"
    return torch.where(labels < 0, torch.full_like(labels, BACKGROUND), labels.long() + FIRST_PART)


def class_balance_weights(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[B, H, W] OASIS pixel weights of [B, H, W] class targets: N / (n_present * count_c)."""
    counts = torch.bincount(targets.reshape(-1), minlength=num_classes).to(torch.float32)
    present = (counts > 0).sum().clamp_min(1)
    coeff = targets.numel() / (present * counts.clamp_min(1))
    return coeff[targets]


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    assert logits.shape[0] == targets.shape[0] and logits.shape[2:] == targets.shape[1:], (logits.shape, targets.shape)
    loss = F.cross_entropy(logits, targets, reduction="none")
    return (loss * weights).mean() if weights is not None else loss.mean()


def segmentation_d_loss(real_logits: torch.Tensor, real_labels: torch.Tensor, fake_logits: torch.Tensor,
                        balance: bool = True) -> torch.Tensor:
    """D's loss: real [B, 2 + K, H, W] logits -> their labels [B, H, W] (-1 background), fake
    [B', 2 + K, H, W] logits -> class 0. Scalar."""
    num_classes = real_logits.shape[1]
    targets = label_targets(real_labels, num_classes - FIRST_PART)
    weights = class_balance_weights(targets, num_classes) if balance else None
    fake = torch.zeros(fake_logits.shape[0], *fake_logits.shape[2:], dtype=torch.long, device=fake_logits.device)
    return _cross_entropy(real_logits, targets, weights) + _cross_entropy(fake_logits, fake, None)


def segmentation_g_loss(fake_logits: torch.Tensor, fake_labels: torch.Tensor, balance: bool = True) -> torch.Tensor:
    """G's loss: its images' logits [B, 2 + K, H, W] -> the conditioning label map [B, H, W]. Scalar."""
    num_classes = fake_logits.shape[1]
    targets = label_targets(fake_labels, num_classes - FIRST_PART)
    weights = class_balance_weights(targets, num_classes) if balance else None
    return _cross_entropy(fake_logits, targets, weights)


def nonsaturating_d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """softplus(-D(real)) + softplus(D(fake)), means over [B] logits. Scalar."""
    return F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()


def nonsaturating_g_loss(fake_logit: torch.Tensor) -> torch.Tensor:
    """softplus(-D(G(z))), mean over [B] logits. Scalar."""
    return F.softplus(-fake_logit).mean()


def realness_score(output: DiscriminatorOutput) -> torch.Tensor:
    """[B] how real D finds each image: mean over pixels of logsumexp(real classes) - fake logit
    (segmentation), or the image logit (binary)."""
    if output.logits is not None:
        logits = output.logits
        return (torch.logsumexp(logits[:, BACKGROUND:], 1) - logits[:, FAKE]).mean((1, 2))
    assert output.image_logit is not None
    return output.image_logit


def r1_penalty(score: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """mean_b |d score_b / d images_b|^2 (scalar, >= 0, differentiable: create_graph).

    score: [B] D's realness of `images` [B, C, H, W], which must require grad (call
    `images.requires_grad_(True)` before D's forward). Scale by gamma / 2 in the recipe.
    """
    assert images.requires_grad, "r1_penalty needs images.requires_grad_(True) before the discriminator runs"
    (grad,) = torch.autograd.grad(score.sum(), images, create_graph=True)
    return grad.square().sum(tuple(range(1, grad.ndim))).mean()


__all__ = ["label_targets", "class_balance_weights", "segmentation_d_loss", "segmentation_g_loss",
           "nonsaturating_d_loss", "nonsaturating_g_loss", "realness_score", "r1_penalty",
           "FAKE", "BACKGROUND", "FIRST_PART"]
