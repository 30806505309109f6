"""View consistency of generated views: does view i, carried into view i+1 by the method's own
depth, look like view i+1? And is the face the same person from one view to the next?

- `reproject`: backward warp. Each pixel of the destination view with depth is lifted to 3D
  (pixel centres at integer + 0.5, OpenCV cameras, as the renderer), projected into the source
  view and sampled there (bilinear); it is valid when it lands inside the source image on the
  person (all four bilinear taps, so no background is blended in at the silhouette) and the
  source's own depth there agrees (so points the source does not see, being
  occluded or round the back, are left out): "visible in both".
- `ring_pairs`: neighbouring views around the ring (by azimuth, wrapping round).
- `reprojection_psnr`: masked PSNR of each warped neighbour against the view itself.
- `neighbour_o2oid`: cosine similarity of the face embeddings of neighbouring face views.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from humanmv.cameras import Cameras
from humanmv.eval.identity_metrics import cosine
from humanmv.eval.image_metrics import psnr
from humanmv.views import channels_first, channels_last

DEPTH_TOLERANCE = 0.02  # relative depth disagreement that still counts as the same surface


def reproject(src_rgb: torch.Tensor, src_depth: torch.Tensor, src_cam: Cameras,
              dst_depth: torch.Tensor, dst_cam: Cameras,
              tolerance: float = DEPTH_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp the source view into the destination camera.

    src_rgb:   (H, W, 3) source image.
    src_depth: (H, W) source camera z (0 = background).
    src_cam, dst_cam: one camera each, in the same world frame and units as the depths.
    dst_depth: (H', W') destination camera z (0 = background).
    Returns the warped image (H', W', 3) and the valid mask (H', W') bool (visible in both).
    """
    Hs, Ws = src_depth.shape
    Hd, Wd = dst_depth.shape
    ys, xs = torch.meshgrid(torch.arange(Hd, dtype=torch.float64), torch.arange(Wd, dtype=torch.float64),
                            indexing="ij")
    pix = torch.stack([xs + 0.5, ys + 0.5, torch.ones_like(xs)], -1)  # (H', W', 3)
    z = dst_depth.double()
    cam = (pix @ torch.linalg.inv(dst_cam.K[0].double()).T) * z[..., None]
    c2w = torch.linalg.inv(dst_cam.world_to_cam[0].double())
    world = cam @ c2w[:3, :3].T + c2w[:3, 3]
    uv, zs = src_cam.project(world.reshape(-1, 3).float())
    uv, zs = uv[0].reshape(Hd, Wd, 2), zs[0].reshape(Hd, Wd)
    grid = torch.stack([uv[..., 0] / Ws * 2 - 1, uv[..., 1] / Hs * 2 - 1], -1)[None].float()
    warped = channels_last(F.grid_sample(channels_first(src_rgb)[None].float(), grid, mode="bilinear",
                                         padding_mode="border", align_corners=False)[0])
    near = F.grid_sample(src_depth[None, None].float(), grid, mode="nearest", padding_mode="zeros",
                         align_corners=False)[0, 0]
    # all four bilinear taps on the person: no background blended in at the silhouette
    covered = F.grid_sample((src_depth > 0)[None, None].float(), grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)[0, 0] > 0.999
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < Ws) & (uv[..., 1] >= 0) & (uv[..., 1] < Hs)
    valid = (z > 0) & inside & covered & (zs > 0) & ((near - zs).abs() <= tolerance * zs)
    return warped, valid


def ring_pairs(cameras: Cameras) -> list[tuple[int, int]]:
    """(i, j) of neighbouring views around the ring: views sorted by azimuth (index order when
    azimuths are unknown), each paired with the next, the last with the first (C >= 3)."""
    C = len(cameras)
    if C < 2:
        return []
    az = cameras.az
    order = list(range(C)) if bool(torch.isnan(az).any()) else sorted(range(C), key=lambda i: float(az[i]) % 360)
    pairs = [(order[k], order[k + 1]) for k in range(C - 1)]
    return pairs + [(order[-1], order[0])] if C > 2 else pairs


def reprojection_psnr(rgb: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
                      pairs: list[tuple[int, int]], min_pixels: int = 50,
                      mask: torch.Tensor | None = None) -> list[float | None]:
    """Per pair (i, j): PSNR (dB) of view i warped into view j against view j, on the pixels
    visible in both (inf if they match exactly); None where fewer than `min_pixels` are.

    rgb: (C, H, W, 3), depth: (C, H, W) in the units of `cameras` (C cameras).
    mask: (C, H, W) the method's own person masks, when its silhouettes may differ from its
    depth's (a generator that refines a prior's views keeps the prior's depth): only pixels
    inside both count as on the person.
    """
    if mask is not None:
        depth = depth * (mask > 0.5)
    out: list[float | None] = []
    for i, j in pairs:
        warped, valid = reproject(rgb[i], depth[i], cameras[[i]], depth[j], cameras[[j]])
        if int(valid.sum()) < min_pixels:
            out.append(None)
            continue
        out.append(float(psnr(channels_first(warped)[None], channels_first(rgb[j])[None].float(), valid[None])[0]))
    return out


def neighbour_o2oid(embeddings: list[np.ndarray | None], pairs: list[tuple[int, int]]) -> list[float | None]:
    """Per pair: cosine of the two views' face embeddings, None unless both show a face."""
    return [None if embeddings[i] is None or embeddings[j] is None else cosine(embeddings[i], embeddings[j])
            for i, j in pairs]
