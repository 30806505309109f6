"""Contact sheets: N views side by side in one image, the `grid.png` of the pipeline.

Images are numpy (N, H, W, C) uint8 (float in [0, 1] and torch tensors are converted). RGBA
views (alpha = person mask, straight alpha) are composited on white, so the grid is RGB.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from humanmv.io.images import to_uint8

from humanmv.io.images import save_png


def as_uint8_images(images: Any, what: str = "images") -> np.ndarray:
    """(N, H, W, C) with C in {1, 3, 4} (or (N, H, W)) uint8 / float [0, 1] / torch ->
    (N, H, W, C) uint8."""
    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[3] not in (1, 3, 4) or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"{what} must be (N, H, W, C) with C in 1, 3, 4, got {arr.shape}")
    if arr.dtype == np.uint16:
        raise ValueError(f"{what} must be uint8 or float in [0, 1], got {arr.dtype}")
    return to_uint8(arr)


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) uint8 straight-alpha RGBA -> (..., 3) uint8 RGB over white."""
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.rint(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def as_uint8_rgb(images: Any, what: str = "images") -> np.ndarray:
    """Like `as_uint8_images`, then RGBA composited on white and grey repeated to RGB:
    (N, H, W, 3) uint8."""
    arr = as_uint8_images(images, what)
    if arr.shape[3] == 4:
        return composite_on_white(arr)
    if arr.shape[3] == 1:
        return np.repeat(arr, 3, axis=3)
    return arr


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a grid of n images: cols defaults to ceil(sqrt(n)), at most n."""
    if cols is None:
        cols = math.ceil(math.sqrt(n))
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    cols = min(cols, max(n, 1))
    return math.ceil(n / cols), cols


def make_grid(images: Any, cols: int | None = None, pad: int = 4,
              background: int | Sequence[int] = 255) -> np.ndarray:
    """Tile images row by row (left to right, then top to bottom).

    Args:
        images: (N, H, W, C) uint8 with C in {1, 3, 4} (RGBA is composited on white first),
            or (N, H, W) greyscale; N >= 1.
        cols: images per row; default ceil(sqrt(N)), capped at N.
        pad: pixels between images and around the border.
        background: fill of the padding and of empty cells (a value, or one per channel).
    Returns:
        (rows * H + (rows + 1) * pad, cols * W + (cols + 1) * pad, C') uint8, C' = 3 for
        RGBA input, else C; image k sits at row k // cols, column k % cols, its top-left
        corner at (pad + r * (H + pad), pad + c * (W + pad)).
    """
    arr = as_uint8_images(images)
    grey = (images.dim() if hasattr(images, "detach") else np.ndim(images)) == 3  # (N, H, W)
    if arr.shape[3] == 4:
        arr = composite_on_white(arr)
    n, h, w, c = arr.shape
    if n == 0:
        raise ValueError("make_grid needs at least one image")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    rows, cols = grid_shape(n, cols)
    fill = np.broadcast_to(np.asarray(background, dtype=np.int64), (c,))
    if fill.min() < 0 or fill.max() > 255:
        raise ValueError(f"background must be within 0..255, got {background}")
    grid = np.empty((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, c), np.uint8)
    grid[...] = fill.astype(np.uint8)
    for k in range(n):
        r, col = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = arr[k]
    return grid[..., 0] if grey else grid


def save_grid(path: str | os.PathLike[str], images: Any, cols: int | None = None, pad: int = 4,
              background: int | Sequence[int] = 255) -> Path:
    """`make_grid` written as a PNG, atomically. Returns the path written."""
    return save_png(path, make_grid(images, cols=cols, pad=pad, background=background))
