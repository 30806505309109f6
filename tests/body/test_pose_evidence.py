"""Which parts a photo shows, which bones that holds, and the limbs' depth sines."""

from __future__ import annotations

import torch

from humanmv.body.anny_model import POSE_BONES
from humanmv.body.pose_evidence import (BODY_PARTS, LIMBS, limb_depth_loss, limb_depth_sines, limb_weights,
                                        seen_parts, unseen_bone_weights)
from humanmv.perception.keypoints import COCO_KEYPOINT_NAMES as NAMES


def _conf(unseen: tuple[str, ...] = ()) -> torch.Tensor:
    return torch.tensor([0.0 if n in unseen else 0.9 for n in NAMES])


def test_all_seen_holds_nothing():
    seen = seen_parts(_conf(), NAMES, 0.3)
    assert seen == {p: True for p in BODY_PARTS}
    assert unseen_bone_weights(seen, POSE_BONES).sum() == 0


def test_crop_at_the_thighs_holds_the_legs_below():
    """Knees, ankles and feet outside the frame: both whole legs are unseen (their upper legs
    have no knee to place them), the torso and arms are seen; only leg bones are held."""
    below = tuple(n for n in NAMES if any(k in n for k in ("knee", "ankle", "toe", "heel")))
    seen = seen_parts(_conf(below), NAMES, 0.3)
    assert seen["torso"] and seen["lower_arm.L"] and seen["lower_arm.R"]
    assert not any(seen[p] for p in ("upper_leg.L", "lower_leg.L", "foot.L", "upper_leg.R", "lower_leg.R", "foot.R"))
    held = {b for b, w in zip(POSE_BONES, unseen_bone_weights(seen, POSE_BONES)) if w > 0}
    assert held == {"upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R"}


def test_a_child_of_an_unseen_part_is_unseen():
    """A wrist whose elbow is not seen cannot be placed: the forearm counts as unseen too."""
    seen = seen_parts(_conf(("left_elbow",)), NAMES, 0.3)
    assert not seen["upper_arm.L"] and not seen["lower_arm.L"] and seen["lower_arm.R"]
    low = seen_parts(torch.where(torch.arange(len(NAMES)) == NAMES.index("left_ankle"), 0.2, 0.9), NAMES, 0.3)
    assert not low["lower_leg.L"] and not low["foot.L"] and low["upper_leg.L"]


def test_depth_sines_point_away_from_the_camera():
    """+1 for a limb pointing straight away (camera z), -1 towards, 0 in the image plane."""
    pts = torch.zeros(len(NAMES), 3)
    pts[NAMES.index("left_knee")] = torch.tensor([0.0, 0.0, 0.4])    # hip -> knee straight away
    pts[NAMES.index("left_ankle")] = torch.tensor([0.0, 0.4, 0.4])   # knee -> ankle in the image plane
    pts[NAMES.index("right_knee")] = torch.tensor([0.0, 0.3, -0.3])  # 45 degrees towards the camera
    s = dict(zip(LIMBS, limb_depth_sines(pts, NAMES).tolist()))
    assert abs(s[("left_hip", "left_knee")] - 1) < 1e-6
    assert abs(s[("left_knee", "left_ankle")]) < 1e-6
    assert abs(s[("right_hip", "right_knee")] + 2 ** -0.5) < 1e-6


def test_limb_loss_weights_only_limbs_seen_at_both_ends():
    conf = _conf(("left_ankle",))
    w = dict(zip(LIMBS, limb_weights(conf, NAMES, 0.3).tolist()))
    assert w[("left_knee", "left_ankle")] == 0 and w[("left_ankle", "left_big_toe")] == 0
    assert abs(w[("left_hip", "left_knee")] - 0.9) < 1e-6
    pts = torch.randn(len(NAMES), 3)
    sines = limb_depth_sines(pts, NAMES)
    assert float(limb_depth_loss(pts, sines, limb_weights(conf, NAMES, 0.3), NAMES)) < 1e-10
    wrong = sines.clone()
    wrong[LIMBS.index(("left_knee", "left_ankle"))] += 1.0  # only an unweighted limb differs
    assert float(limb_depth_loss(pts, wrong, limb_weights(conf, NAMES, 0.3), NAMES)) < 1e-10
    wrong[LIMBS.index(("left_hip", "left_knee"))] += 1.0
    assert float(limb_depth_loss(pts, wrong, limb_weights(conf, NAMES, 0.3), NAMES)) > 0.01
