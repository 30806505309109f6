import numpy as np
import pytest
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.body.avatar_texture import TextureBuilder
from humanmv.body.garment_cover import BANDED_PARTS, GARMENT, SKIN, body_bands, continue_bands, label_bands

SKIN_RGB = torch.tensor([0.85, 0.65, 0.55])
SHIRT = torch.tensor([0.2, 0.3, 0.8])


@pytest.fixture(scope="module")
def maps(body, renderer):
    b = TextureBuilder(body, renderer, 256)
    return b.rest_position, b.part, b.band, b.band_group, b.band_centre


def test_bands_run_along_each_part_and_left_and_right_share_them(maps):
    pos, part, band, group, centre = maps
    torso = part == PART_NAMES.index("torso")
    # torso bands go downwards: the first band is the highest
    first, last = band[torso].min(), band[torso].max()
    assert centre[first, 1] > centre[last, 1] + 0.3
    left, right = part == PART_NAMES.index("upper_arm.L"), part == PART_NAMES.index("upper_arm.R")
    assert set(band[left]) == set(band[right])
    assert (band[part == PART_NAMES.index("head")] == -1).all()
    assert set(group) == set(range(len(BANDED_PARTS)))


def _photo(pos, part, band):
    """A T-shirt (torso above the hips, upper arms) over skin arms; only the front seen."""
    n = len(part)
    colour = SKIN_RGB.expand(n, 3).clone()
    torso = torch.from_numpy(part == PART_NAMES.index("torso"))
    upper = torch.from_numpy(np.isin(part, [PART_NAMES.index("upper_arm.L"), PART_NAMES.index("upper_arm.R")]))
    colour[torso | upper] = SHIRT
    seen = torch.from_numpy(pos[:, 2] > np.median(pos[:, 2])) & torch.from_numpy(band >= 0)
    seen &= ~torch.from_numpy(np.isin(part, [PART_NAMES.index(n) for n in ("hand.L", "hand.R", "upper_leg.L",
                                                                           "upper_leg.R", "lower_leg.L", "lower_leg.R")]))
    return colour, seen, torso, upper


def test_bands_are_labelled_skin_or_garment_and_unseen_parts_continue_up_the_chain(maps):
    pos, part, band, group, centre = maps
    colour, seen, torso, upper = _photo(pos, part, band)
    # one arm texel of the shirt's front wrongly shows skin (fit error)
    wrong = torch.nonzero(torso & seen)[:5, 0]
    colour[wrong] = SKIN_RGB
    cover = label_bands(colour, seen, seen, band, group, centre, SKIN_RGB)
    b = torch.from_numpy(band)
    lower = torch.from_numpy(np.isin(part, [PART_NAMES.index("lower_arm.L"), PART_NAMES.index("lower_arm.R")]))
    assert (cover.kind[b[torso & seen]] == GARMENT).all() and (cover.kind[b[lower & seen]] == SKIN).all()
    assert cover.mistaken[wrong].all() and not cover.mistaken[lower].any()
    hands = torch.from_numpy(group == BANDED_PARTS.index("hand"))
    assert (cover.kind[hands] == SKIN).all()  # unseen hands: bare
    legs = torch.from_numpy(group == BANDED_PARTS.index("upper_leg"))
    assert (cover.kind[legs] == GARMENT).all()  # unseen legs continue the torso's lowest bands
    assert torch.allclose(cover.colour[legs], SHIRT.expand(int(legs.sum()), 3))
    # without a face, nothing is called skin or a mistake
    blind = label_bands(colour, seen, seen, band, group, centre, None)
    assert not blind.mistaken.any() and (blind.kind[b[lower & seen]] == GARMENT).all()


def test_continue_bands_takes_the_neighbours_of_the_band_class(maps):
    pos, part, band, group, centre = maps
    colour, seen, torso, upper = _photo(pos, part, band)
    cover = label_bands(colour, seen, seen, band, group, centre, SKIN_RGB)
    todo = ~seen & torch.from_numpy(band >= 0)
    out = continue_bands(colour, seen, todo, pos, band, cover)
    assert torch.allclose(out[todo & torso], SHIRT.expand(int((todo & torso).sum()), 3), atol=1e-5)
    assert (out[~todo] == 0).all()
