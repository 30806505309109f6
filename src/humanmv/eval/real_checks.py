"""Checks on generated views of a real photo that need no ground truth.

- `part_hue_drift`: does each body part keep the photo's colours for that part? The mean a*b*
  (CIE-Lab hue and chroma, not lightness, which the views' lighting may change) of each part's
  pixels in each view against the same part's pixels in the photo; purple or green blotches on
  white clothes show up here.
- `silhouette_outside_body`: how much of a view's silhouette lies beyond the refitted body (a
  margin for clothes and hair allowed): a ghost arm standing out of the profile shows up here.

Part labels come from the method's own body rendered at each camera (`Renderer` "labels":
`PART_NAMES` ids; garment and hair shells and the background are not parts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from humanmv.body.anny_model import PART_NAMES
from humanmv.views import lab_channels_last

MIN_PART_PIXELS = 50
OUTSIDE_MARGIN = 0.03  # of the view's size: clothes and hair reach this far past the body

# Parts pooled by name (left and right together): a sleeve is one colour on both arms.
PART_GROUPS = tuple(dict.fromkeys(n.split(".")[0] for n in PART_NAMES if n != "eyes"))


def _ab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) sRGB [0, 1] -> (..., 2) CIE-Lab a*, b*."""
    return lab_channels_last(rgb)[..., 1:]


def _group_of_label(labels: torch.Tensor) -> torch.Tensor:
    """(...) part labels -> (...) index into PART_GROUPS, -1 off the body's parts."""
    table = torch.full((len(PART_NAMES),), -1, dtype=torch.long)
    for i, name in enumerate(PART_NAMES):
        base = name.split(".")[0]
        if base in PART_GROUPS:
            table[i] = PART_GROUPS.index(base)
    inside = (labels >= 0) & (labels < len(PART_NAMES))
    return torch.where(inside, table[labels.clamp(0, len(PART_NAMES) - 1)], -1)


def part_hue_drift(photo: torch.Tensor, photo_mask: torch.Tensor, photo_labels: torch.Tensor,
                   views: torch.Tensor, view_mask: torch.Tensor, view_labels: torch.Tensor) -> dict | None:
    """photo: (H, W, 3) sRGB [0, 1]; photo_mask: (H, W) person; photo_labels: (H, W) part ids
    of the method's body at the photo camera; views: (C, h, w, 3); view_mask: (C, h, w);
    view_labels: (C, h, w) part ids at the views' cameras.

    Returns {"mean": a*b* distance averaged over every (view, part) both show with at least
    MIN_PART_PIXELS pixels, "per_part": {group: mean over views}, "worst": the group with the
    largest}, or None when no part is shown by both."""
    pg, vg = _group_of_label(photo_labels), _group_of_label(view_labels)
    photo_ab = _ab(photo)
    view_ab = _ab(views)
    per_part: dict[str, list[float]] = {}
    for g, name in enumerate(PART_GROUPS):
        in_photo = (pg == g) & (photo_mask > 0.5)
        if int(in_photo.sum()) < MIN_PART_PIXELS:
            continue
        ref = photo_ab[in_photo].mean(0)
        for c in range(len(views)):
            sel = (vg[c] == g) & (view_mask[c] > 0.5)
            if int(sel.sum()) >= MIN_PART_PIXELS:
                per_part.setdefault(name, []).append(float((view_ab[c][sel].mean(0) - ref).norm()))
    if not per_part:
        return None
    means = {k: sum(v) / len(v) for k, v in per_part.items()}
    every = [d for v in per_part.values() for d in v]
    return {"mean": sum(every) / len(every), "per_part": {k: round(v, 3) for k, v in means.items()},
            "worst": max(means, key=means.get)}


def silhouette_outside_body(view_mask: torch.Tensor, body_mask: torch.Tensor) -> float | None:
    """view_mask, body_mask: (C, H, W) [0, 1]. The fraction of the views' silhouette pixels
    farther than OUTSIDE_MARGIN x the view size from the body's silhouette; None when the
    views show nothing."""
    assert view_mask.shape == body_mask.shape, (view_mask.shape, body_mask.shape)
    shown = view_mask > 0.5
    if not shown.any():
        return None
    r = max(1, round(OUTSIDE_MARGIN * max(view_mask.shape[-2:])))
    near = F.max_pool2d((body_mask > 0.5).float()[:, None], 2 * r + 1, stride=1, padding=r)[:, 0] > 0
    return float((shown & ~near).sum()) / float(shown.sum())
