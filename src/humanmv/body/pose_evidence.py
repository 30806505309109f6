"""What the photo says about the pose beyond 2D keypoints: which body parts it shows, and how
far each limb points towards or away from the camera.

Parts (`BODY_PARTS`) are seen when the keypoints that place them are confidently inside the
frame (`seen_parts`); the bones that move an unseen part are held at the neutral pose
(`unseen_bone_weights`): nothing in the photo constrains them, and an optimiser left alone
there crosses and twists legs to please a silhouette that ends at the frame's edge.

A photo cut below the hips (a portrait, a waist-up shot) is a trap for the keypoint detector:
mediapipe assumes a whole body and squeezes the legs into the frame, reporting knees inside the
photo with confidences of 0.3-0.7 (measured on messi5.jpg, person.jpg and basketball1.png cut at
the waist and the thighs). So when the person mask runs off the bottom edge (`cut_at_bottom`),
lower-body points count only with a confidence of at least `CUT_LOWER_BODY_CONFIDENCE`
(`distrust_cut_lower_body`).

Limb depth comes from the pose lifter (`models.pose_lifter`): for each limb a -> b of `LIMBS`,
the sine of its angle out of the image plane, (b - a)_z / |b - a| in the camera frame (OpenCV:
z away from the camera; +1 = pointing straight away). On limbs whose both ends are seen the fit
keeps each limb on the lifted side, by at least a margin of the lifted sine (`limb_depth_loss`);
how far it leans, and its in-plane direction, stay the 2D keypoints' business: asking for the
lifted amount as well fought the keypoints on real photos (their photo-view error rose).
"""

from __future__ import annotations

import numpy as np
import torch

# part -> the keypoints that must be seen for the part to count as seen (all of them; for the
# head any one: from behind only the ears show).
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "torso": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "upper_arm.L": ("left_shoulder", "left_elbow"),
    "lower_arm.L": ("left_elbow", "left_wrist"),
    "upper_arm.R": ("right_shoulder", "right_elbow"),
    "lower_arm.R": ("right_elbow", "right_wrist"),
    "upper_leg.L": ("left_hip", "left_knee"),
    "lower_leg.L": ("left_knee", "left_ankle"),
    "foot.L": ("left_ankle", "left_big_toe"),
    "upper_leg.R": ("right_hip", "right_knee"),
    "lower_leg.R": ("right_knee", "right_ankle"),
    "foot.R": ("right_ankle", "right_big_toe"),
}
# The posed bones (anny_model.POSE_BONES) each part's visibility governs.
PART_BONES: dict[str, tuple[str, ...]] = {
    "upper_arm.L": ("upperarm01.L",), "lower_arm.L": ("lowerarm01.L", "wrist.L"),
    "upper_arm.R": ("upperarm01.R",), "lower_arm.R": ("lowerarm01.R", "wrist.R"),
    "upper_leg.L": ("upperleg01.L",), "lower_leg.L": ("lowerleg01.L",), "foot.L": ("foot.L",),
    "upper_leg.R": ("upperleg01.R",), "lower_leg.R": ("lowerleg01.R",), "foot.R": ("foot.R",),
}
# The parts a part hangs from: a forearm whose upper arm is unseen is unseen too.
PARENT_PART = {"lower_arm.L": "upper_arm.L", "lower_arm.R": "upper_arm.R", "lower_leg.L": "upper_leg.L",
               "lower_leg.R": "upper_leg.R", "foot.L": "lower_leg.L", "foot.R": "lower_leg.R"}

LIMBS: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_ankle", "left_big_toe"), ("right_ankle", "right_big_toe"),
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"),
)
"""Limbs whose depth the lifter informs: arms, legs, feet, the shoulder and hip lines (the
body's turn) and the flanks (its lean towards or away from the camera)."""


LOWER_BODY = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_big_toe", "right_big_toe",
              "left_small_toe", "right_small_toe", "left_heel", "right_heel")
CUT_LOWER_BODY_CONFIDENCE = 0.8
CUT_MIN_EDGE_SHARE = 0.3  # of the mask's widest row on the bottom row: the body goes on below


def cut_at_bottom(mask: np.ndarray) -> bool:
    """The person mask (H, W) runs off the photo's bottom edge: its bottom row covers at least
    CUT_MIN_EDGE_SHARE of its widest row (feet on the edge cover less than the shoulders)."""
    inside = np.asarray(mask) > 0.5
    widest = int(inside.sum(1).max()) if inside.any() else 0
    return widest > 0 and int(inside[-1].sum()) >= CUT_MIN_EDGE_SHARE * widest


def distrust_cut_lower_body(confidence: torch.Tensor, names: list[str], mask: np.ndarray | None) -> torch.Tensor:
    """(K,) confidence with lower-body points below CUT_LOWER_BODY_CONFIDENCE zeroed when the
    mask is cut at the bottom (see the module docstring); unchanged otherwise."""
    if mask is None or not cut_at_bottom(mask):
        return confidence
    low = torch.tensor([n in LOWER_BODY for n in names])
    return torch.where(low & (confidence < CUT_LOWER_BODY_CONFIDENCE), torch.zeros_like(confidence), confidence)


def seen_parts(confidence: torch.Tensor, names: list[str], min_confidence: float) -> dict[str, bool]:
    """Per part of BODY_PARTS: all its keypoints have confidence >= min_confidence (and its
    parent part is seen). confidence: (K,) in `names` order, 0 for points outside the frame."""
    ok = {n: bool(confidence[i] >= min_confidence) for i, n in enumerate(names)}
    seen = {part: (any if part == "head" else all)(ok[k] for k in keys) for part, keys in BODY_PARTS.items()}
    for part, parent in PARENT_PART.items():  # parents come first in BODY_PARTS' order
        seen[part] = seen[part] and seen[parent]
    return seen


def unseen_bone_weights(seen: dict[str, bool], bones: tuple[str, ...]) -> torch.Tensor:
    """(P,) 1 for each posed bone of an unseen part (held at the neutral pose), else 0."""
    held = {b for part, part_bones in PART_BONES.items() if not seen[part] for b in part_bones}
    return torch.tensor([1.0 if b in held else 0.0 for b in bones])


def limb_indices(names: list[str]) -> torch.Tensor:
    """(L, 2) keypoint indices of LIMBS in `names` order."""
    return torch.tensor([[names.index(a), names.index(b)] for a, b in LIMBS])


def limb_depth_sines(points: torch.Tensor, names: list[str]) -> torch.Tensor:
    """(..., L) sine of each limb's out-of-plane angle from camera-frame points (..., K, 3)."""
    idx = limb_indices(names)
    d = points[..., idx[:, 1], :] - points[..., idx[:, 0], :]
    return d[..., 2] / d.norm(dim=-1).clamp_min(1e-6)


def limb_weights(confidence: torch.Tensor, names: list[str], min_confidence: float) -> torch.Tensor:
    """(L,) weight of each limb's depth term: the smaller confidence of its two ends, 0 when
    either is below min_confidence."""
    idx = limb_indices(names)
    c = torch.where(confidence >= min_confidence, confidence, torch.zeros_like(confidence))
    return torch.minimum(c[idx[:, 0]], c[idx[:, 1]])


def limb_depth_loss(camera_points: torch.Tensor, target_sines: torch.Tensor, weights: torch.Tensor,
                    names: list[str], margin: float | None = None) -> torch.Tensor:
    """Weighted mean of each limb's depth penalty, from camera-frame keypoints (K, 3) and the
    lifted sines (L,).

    margin None: the squared difference of the sines. margin m in [0, 1]: only the side is
    asked for — a limb must point the lifted way, by at least m times the lifted sine; beyond
    that its length in the photo decides (a squared hinge). The side is what 2D cannot tell;
    the amount is what a wrong lifted sine would fight the 2D keypoints over.
    """
    sines = limb_depth_sines(camera_points, names)
    if margin is None:
        penalty = (sines - target_sines).square()
    else:
        side = torch.sign(target_sines)
        penalty = torch.relu(margin * target_sines.abs() - sines * side).square()
    return (weights * penalty).sum() / weights.sum().clamp_min(1e-6)
