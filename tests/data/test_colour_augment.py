"""Appearance augmentation: one colour transform per subject, alike on every image."""

import numpy as np
import torch

from humanmv.data.colour_augment import ColourJitter, apply_colour_jitter, sample_colour_jitter


def _person(rgb=(0.8, 0.2, 0.1)) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-view [2, 3, 8, 8] image on white with a coloured square, and its alpha."""
    alpha = torch.zeros(2, 1, 8, 8)
    alpha[:, :, 2:6, 2:6] = 1.0
    colour = torch.tensor(rgb).view(1, 3, 1, 1)
    return alpha * colour + (1 - alpha), alpha


def test_identity_and_a_full_turn_leave_colours_alone():
    rgb, alpha = _person()
    assert torch.allclose(apply_colour_jitter(rgb, alpha, ColourJitter()), rgb, atol=1e-6)
    assert torch.allclose(apply_colour_jitter(rgb, alpha, ColourJitter(hue=360.0)), rgb, atol=1e-5)


def test_hue_turns_red_to_green_and_keeps_grey_and_the_white_background():
    rgb, alpha = _person((0.9, 0.1, 0.1))
    out = apply_colour_jitter(rgb, alpha, ColourJitter(hue=120.0))
    inside = out[0, :, 3, 3]
    assert int(inside.argmax()) == 1, inside           # red -> green by a third of a turn
    assert torch.allclose(out[:, :, 0, 0], torch.ones(2, 3))   # outside the person: white
    grey, galpha = _person((0.4, 0.4, 0.4))
    moved = apply_colour_jitter(grey, galpha, ColourJitter(hue=77.0, saturation=1.4))
    assert torch.allclose(moved, grey, atol=1e-6)      # no chroma to turn or scale


def test_saturation_zero_is_the_mean_grey_and_edges_keep_their_blend():
    rgb, alpha = _person((0.6, 0.3, 0.0))
    out = apply_colour_jitter(rgb, alpha, ColourJitter(saturation=0.0))
    assert torch.allclose(out[0, :, 3, 3], torch.full((3,), 0.3), atol=1e-6)
    # A half-covered edge pixel: half the transformed colour, half white.
    alpha[:, :, 1, 1] = 0.5
    rgb[:, :, 1, 1] = 0.5 * torch.tensor([0.6, 0.3, 0.0]) + 0.5
    out = apply_colour_jitter(rgb, alpha, ColourJitter(saturation=0.0))
    assert torch.allclose(out[0, :, 1, 1], torch.full((3,), 0.65), atol=1e-6)


def test_sampled_jitters_are_seeded_bounded_and_vanish_at_zero_strength():
    a = sample_colour_jitter(np.random.default_rng(3))
    assert a == sample_colour_jitter(np.random.default_rng(3))
    assert -180 <= a.hue <= 180 and 0.5 <= a.saturation <= 1.5 and 0.8 <= a.gamma <= 1.25
    assert sample_colour_jitter(np.random.default_rng(3), strength=0.0) == ColourJitter()
