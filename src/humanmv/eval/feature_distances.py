"""Set-level distances on (ST-)LPIPS trunk features, while Inception weights are unavailable.

- `lpips_features(model, images)` [N, D]: at each of the trunk's five LPIPS taps the activations
  are normalised to unit length along channels (as LPIPS compares them) and averaged over space;
  the five means are concatenated (AlexNet: D = 64 + 192 + 384 + 256 + 256 = 1152).
- `frechet_lpips_distance(model, a, b)`: the Fréchet distance (FID's formula, `eval.fid`) between
  Gaussians fitted to those features. It is NOT FID: another network, another scale. Report it
  as "Fréchet (ST-LPIPS features)" and compare it only with itself, e.g. against the distance
  between two real sets of the same size (its floor: it is biased upwards for small sets).
- `nearest_training_distance(model, queries, bank)`: a memorisation check. For each query the
  `candidates` nearest bank images in feature space are re-ranked by the LPIPS distance itself,
  and the smallest distance is returned: an upper bound of the exhaustive minimum (within a
  few per cent at 4 of 30 candidates in the tests), at a fraction of its cost. A generator that copies its training images puts its
  samples much nearer the bank than real images it never saw (the same check on held-out real
  images is the yardstick).

Images are [N, 3, H, W] in [0, 1] (H, W >= 32 for AlexNet), on the model's device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from humanmv.eval.fid import fid_from_features
from humanmv.eval.lpips import LPIPS, lpips_distance


@torch.no_grad()
def lpips_features(model: LPIPS, images: Tensor, batch_size: int = 32) -> Tensor:
    """[N, D] float32 (module docstring) of images [N, 3, H, W] in [0, 1]."""
    assert images.dim() == 4 and images.shape[1] == 3, images.shape
    device = model.shift.device
    rows = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device).float() * 2.0 - 1.0
        x = (x - model.shift) / model.scale
        taps = model.tapped_features(x)
        rows.append(torch.cat([(f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)).mean((2, 3)) for f in taps], 1))
    return torch.cat(rows).cpu()


def frechet_lpips_distance(model: LPIPS, images_a: Tensor, images_b: Tensor, batch_size: int = 32) -> float:
    """Fréchet distance between the `lpips_features` of two image sets (each >= 2 images)."""
    return fid_from_features(lpips_features(model, images_a, batch_size), lpips_features(model, images_b, batch_size))


@torch.no_grad()
def nearest_training_distance(model: LPIPS, queries: Tensor, bank: Tensor, candidates: int = 8,
                              bank_features: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(distance [N], bank index [N]): each query's smallest LPIPS distance to the bank
    [M, 3, H, W] (same H, W), searched among its `candidates` nearest in `lpips_features`
    space. `bank_features` [M, D]: precomputed features of the bank (saves recomputing them)."""
    assert queries.shape[1:] == bank.shape[1:], (queries.shape, bank.shape)
    bank_features = lpips_features(model, bank) if bank_features is None else bank_features
    query_features = lpips_features(model, queries)
    k = min(candidates, len(bank))
    near = torch.cdist(query_features, bank_features).topk(k, dim=1, largest=False).indices  # [N, k]
    distances = torch.empty(len(queries))
    index = torch.empty(len(queries), dtype=torch.long)
    for q in range(len(queries)):
        d = lpips_distance(model, queries[q:q + 1].expand(k, -1, -1, -1), bank[near[q]])
        best = int(d.argmin())
        distances[q], index[q] = d[best], near[q, best]
    return distances, index


__all__ = ["frechet_lpips_distance", "lpips_features", "nearest_training_distance"]
