"""Hair against ground truth, per view (head presets with hair as geometry, the `labels` layer).

- hair ΔE: the mean CIE-Lab ΔE (CIE76) between the method's view and the ground truth over the
  ground truth's hair pixels (background white where the method drew nothing): a bald or blank
  back of the head scores the distance from skin or white to the hair's colour.
- hair IoU: the method's hair pixels, those of its silhouette within `HAIR_DELTA_E` of the
  ground-truth hair's median Lab colour, against the ground truth's hair pixels: hair of the
  right colour in the right place and extent (a bun, long hair) scores high; a painted cap on a
  bald head reaches only where the cap is.

Views where the ground truth shows fewer than `MIN_HAIR_PIXELS` hair pixels (bald and buzz-cut
subjects, faces seen from the front under a fringe) get None.

Tensors: views / target (C, 3, H, W) on white in [0, 1], pred_mask (C, H, W), labels (C, H, W)
int (`shells.labels`; -1 background).
"""

from __future__ import annotations

import torch

from humanmv.shells.labels import label_of
from humanmv.views import lab_channels_last

HAIR_DELTA_E = 20.0
MIN_HAIR_PIXELS = 50


def hair_scores(views: torch.Tensor, pred_mask: torch.Tensor, target: torch.Tensor,
                labels: torch.Tensor) -> dict[str, list[float | None]]:
    """{"hair_iou": [C], "hair_de": [C]} (None where the ground truth shows no hair)."""
    assert views.shape == target.shape and views.shape[1] == 3, (views.shape, target.shape)
    assert labels.shape == pred_mask.shape == (views.shape[0], *views.shape[2:]), (labels.shape, pred_mask.shape)
    hair = labels == label_of("hair")
    pred_lab = lab_channels_last(views.permute(0, 2, 3, 1).float())
    gt_lab = lab_channels_last(target.permute(0, 2, 3, 1).float())
    ious: list[float | None] = []
    des: list[float | None] = []
    for c in range(views.shape[0]):
        h = hair[c]
        if int(h.sum()) < MIN_HAIR_PIXELS:
            ious.append(None)
            des.append(None)
            continue
        des.append(float((pred_lab[c][h] - gt_lab[c][h]).norm(dim=-1).mean()))
        colour = gt_lab[c][h].median(0).values
        drawn = (pred_mask[c] > 0.5) & ((pred_lab[c] - colour).norm(dim=-1) < HAIR_DELTA_E)
        ious.append(float((drawn & h).sum()) / max(1, int((drawn | h).sum())))
    return {"hair_iou": ious, "hair_de": des}
