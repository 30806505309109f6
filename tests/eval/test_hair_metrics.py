"""Hair against ground truth: the truth scores IoU 1 and ΔE 0; a bald head (skin where the hair
is) and a blank view score low; views without true hair are None, not zero."""

from __future__ import annotations

import torch

from humanmv.eval.hair_metrics import hair_scores
from humanmv.shells.labels import label_of

HAIR, HEAD = label_of("hair"), label_of("head")


def _scene():
    """One 32 x 32 view: a skin-coloured head (rows 8-24) under dark brown hair (rows 4-12)."""
    labels = torch.full((1, 32, 32), -1)
    labels[0, 8:24, 10:22] = HEAD
    labels[0, 4:12, 8:24] = HAIR
    rgb = torch.ones(1, 3, 32, 32)
    rgb[0, :, 8:24, 10:22] = torch.tensor([0.85, 0.65, 0.55])[:, None, None]
    rgb[0, :, 4:12, 8:24] = torch.tensor([0.25, 0.15, 0.08])[:, None, None]
    return rgb, (labels >= 0).float(), labels


def test_the_truth_scores_perfectly_and_a_bald_head_does_not():
    rgb, mask, labels = _scene()
    truth = hair_scores(rgb, mask, rgb, labels)
    assert truth["hair_iou"] == [1.0] and truth["hair_de"][0] < 1e-4
    bald = rgb.clone()
    bald[0, :, 4:12, 8:24] = torch.tensor([0.85, 0.65, 0.55])[:, None, None]   # skin where the hair is
    scores = hair_scores(bald, mask, rgb, labels)
    assert scores["hair_iou"] == [0.0] and scores["hair_de"][0] > 30
    blank = hair_scores(torch.ones_like(rgb), torch.zeros_like(mask), rgb, labels)
    assert blank["hair_iou"] == [0.0] and blank["hair_de"][0] > scores["hair_de"][0]


def test_half_the_hair_is_half_the_iou():
    rgb, mask, labels = _scene()
    half = rgb.clone()
    half[0, :, 4:12, 16:24] = torch.tensor([0.85, 0.65, 0.55])[:, None, None]
    iou = hair_scores(half, mask, rgb, labels)["hair_iou"][0]
    assert abs(iou - 0.5) < 1e-6


def test_views_without_true_hair_are_none():
    rgb, mask, labels = _scene()
    labels[labels == HAIR] = HEAD
    assert hair_scores(rgb, mask, rgb, labels) == {"hair_iou": [None], "hair_de": [None]}
