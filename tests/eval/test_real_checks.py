import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.eval.real_checks import OUTSIDE_MARGIN, part_hue_drift, silhouette_outside_body

TORSO, ARM = PART_NAMES.index("torso"), PART_NAMES.index("upper_arm.L")
WHITE, PURPLE, SKIN = torch.tensor([0.95, 0.95, 0.95]), torch.tensor([0.6, 0.3, 0.7]), torch.tensor([0.85, 0.65, 0.55])


def _person(h: int = 64):
    """A torso (white shirt) and one arm (skin): colours, mask, labels."""
    labels = torch.full((h, h), -1, dtype=torch.long)
    labels[10:50, 20:40] = TORSO
    labels[10:40, 42:50] = ARM
    rgb = torch.ones(h, h, 3)
    rgb[labels == TORSO] = WHITE
    rgb[labels == ARM] = SKIN
    return rgb, (labels >= 0).float(), labels


def test_hue_drift_is_zero_for_the_photo_colours_and_sees_a_purple_blotch():
    rgb, mask, labels = _person()
    views, vmask, vlabels = rgb[None].repeat(3, 1, 1, 1), mask[None].repeat(3, 1, 1), labels[None].repeat(3, 1, 1)
    same = part_hue_drift(rgb, mask, labels, views, vmask, vlabels)
    assert same["mean"] < 1e-3 and set(same["per_part"]) == {"torso", "upper_arm"}
    # the back of the shirt comes out purple in one view: the torso drifts, the arm does not
    views[1][labels == TORSO] = PURPLE
    got = part_hue_drift(rgb, mask, labels, views, vmask, vlabels)
    assert got["worst"] == "torso" and got["per_part"]["torso"] > 10 and got["per_part"]["upper_arm"] < 1e-3
    # a shadowed back drifts far less than a wrong colour (a*b* shrink a little with lightness)
    views = rgb[None].repeat(3, 1, 1, 1) * 0.6
    assert part_hue_drift(rgb, mask, labels, views, vmask, vlabels)["mean"] < 0.5 * got["per_part"]["torso"]
    none = torch.full_like(vlabels, -1)
    assert part_hue_drift(rgb, mask, labels, views, vmask, none) is None


def test_silhouette_outside_body_counts_a_ghost_arm_not_the_margin():
    _, mask, _ = _person()
    body = mask[None]
    assert silhouette_outside_body(body, body) == 0.0
    r = round(OUTSIDE_MARGIN * 64)
    near = body.clone()
    near[0, 10:40, 50:50 + r] = 1  # a sleeve a little wider than the arm: within the margin
    assert silhouette_outside_body(near, body) == 0.0
    ghost = body.clone()
    ghost[0, 52:60, 0:30] = 1  # an arm standing out below
    assert silhouette_outside_body(ghost, body) > 0.15
    assert silhouette_outside_body(torch.zeros_like(body), body) is None
