"""The mvdiff tensor contract, shared by training (`data.mvdiff_pairs`) and inference
(`pipelines.mvdiff`), so that a photo at inference is prepared exactly as a synthetic input
view in training.

- Views: RGB composited on white + alpha, (N, 4, H, W) in [0, 1]; with normals, 3 more
  channels (n + 1) / 2, white outside the mask (`view_tensors`).
- Reference: the photo (or input view) cropped square around the person with a margin
  (`person_box`, `crop_square`), 4 channels, and the prior's render at the same crop as its
  7 conditions (`reference_inputs`); outside the photo: `REFERENCE_FILL`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REFERENCE_MARGIN = 1.15  # the reference crop's side over the person's longer box side


def view_tensors(rgb: torch.Tensor, mask: torch.Tensor, normal: torch.Tensor | None = None) -> torch.Tensor:
    """(C, H, W, 3) rgb, (C, H, W) mask[, (C, H, W, 3) camera normals] -> (C, 4[+3], H, W) in
    [0, 1]: RGB composited on white, alpha, and normals as (n + 1) / 2 inside the mask, 1 (white)
    outside."""
    m = mask[..., None]
    parts = [rgb * m + (1 - m), m]
    if normal is not None:
        parts.append((normal + 1) / 2 * m + (1 - m))
    return torch.cat(parts, dim=-1).permute(0, 3, 1, 2).contiguous()


def resize_views(x: torch.Tensor, size: int) -> torch.Tensor:
    """(C, K, H, W) -> (C, K, size, size), area-averaged when shrinking."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def person_box(mask: torch.Tensor, margin: float = REFERENCE_MARGIN) -> tuple[float, float, float]:
    """(H, W) mask -> a square (x0, y0, side) in pixels around the person, `margin` times its
    longer side, centred on the mask's bounding box. ValueError when the mask is empty: callers
    hand over a detected person, so an empty mask here is a bug, not a user's input."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(xs) == 0:
        raise ValueError("person_box: the person mask is empty; nothing to crop for the reference view")
    x0, x1 = float(xs.min()), float(xs.max()) + 1
    y0, y1 = float(ys.min()), float(ys.max()) + 1
    side = max(x1 - x0, y1 - y0) * margin
    return (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side


def crop_box(images: torch.Tensor, box: tuple[float, float, float, float], height: int, width: int,
             fill: torch.Tensor | None = None) -> torch.Tensor:
    """[C, K, H, W] images -> [C, K, height, width]: the box (x0, y0, box_w, box_h) in pixels,
    resampled bilinearly at the output pixel centres (after an anti-aliased shrink when the box
    is more than 2x larger, so no source pixel is skipped); outside the image each channel is
    `fill` [K] (0 when None). The matching cameras: `Cameras.cropped`."""
    C, K, H, W = images.shape
    x0, y0, bw, bh = box
    scale = min(height / bh, width / bw)
    if scale < 0.5:
        h2, w2 = max(1, round(H * scale * 2)), max(1, round(W * scale * 2))
        images = F.interpolate(images, size=(h2, w2), mode="bilinear", align_corners=False, antialias=True)
        x0, y0, bw, bh = x0 * w2 / W, y0 * h2 / H, bw * w2 / W, bh * h2 / H
        H, W = h2, w2
    gx = (x0 + (torch.arange(width, dtype=torch.float32) + 0.5) * bw / width) / W * 2 - 1
    gy = (y0 + (torch.arange(height, dtype=torch.float32) + 0.5) * bh / height) / H * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None].expand(C, -1, -1, -1)
    fill = torch.zeros(K) if fill is None else fill
    fill = fill.view(1, K, 1, 1).to(images)
    out = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill


def crop_square(images: torch.Tensor, box: tuple[float, float, float], size: int,
                fill: torch.Tensor) -> torch.Tensor:
    """(C, K, H, W) images -> (C, K, size, size): the square `box` (x0, y0, side) through
    `crop_box`; outside the image each channel is `fill` (K,)."""
    x0, y0, side = box
    return crop_box(images, (x0, y0, side, side), size, size, fill)


REFERENCE_FILL = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])  # white RGB, alpha 0, white normals


def framing_box(centre: torch.Tensor, view_w2c: torch.Tensor, view_K: torch.Tensor, view_height: int,
                photo_w2c: torch.Tensor, photo_K: torch.Tensor) -> tuple[float, float, float]:
    """The square (x0, y0, side) in photo pixels that frames what a target view shows: the
    view (w2c [4, 4], K [3, 3], `view_height` pixels) aims at `centre` [3] (world); its height
    at the centre's depth, seen from the photo camera (w2c [4, 4], K [3, 3]) around the
    centre's projection. The head generator's reference: the photo at its views' framing."""
    def depth(w2c: torch.Tensor) -> torch.Tensor:
        return (w2c[:3, :3].float() @ centre.float() + w2c[:3, 3].float())
    metres = float(depth(view_w2c)[2]) * view_height / float(view_K[1, 1])  # view height at the centre
    p = depth(photo_w2c)
    K = photo_K.float()
    u, v = float(K[0, 0] * p[0] / p[2] + K[0, 2]), float(K[1, 1] * p[1] / p[2] + K[1, 2])
    side = metres * float(K[1, 1]) / float(p[2])
    return u - side / 2, v - side / 2, side


def reference_inputs(photo: torch.Tensor, person_mask: torch.Tensor, render_rgb: torch.Tensor,
                     render_mask: torch.Tensor, render_normal: torch.Tensor,
                     size: int, box: tuple[float, float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's reference: the photo and the prior's render at the photo camera, both
    cropped to the same square (`box` (x0, y0, side) in pixels; default the square round the
    person, `person_box`) and resized to `size`.

    photo (H, W, 3), person_mask (H, W) in [0, 1]; render_rgb (H, W, 3), render_mask (H, W),
    render_normal (H, W, 3) camera normals: the prior seen from the photo camera.
    Returns reference (4, size, size) and reference_conditions (7, size, size).
    """
    box = person_box(person_mask) if box is None else box
    reference = crop_square(view_tensors(photo[None], person_mask[None]), box, size, REFERENCE_FILL[:4])[0]
    conditions = view_tensors(render_rgb[None], render_mask[None], render_normal[None])
    return reference, crop_square(conditions, box, size, REFERENCE_FILL)[0]
