"""make_grid / save_grid: shape, placement, padding, RGBA on white."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humanmv.io.grid import make_grid, save_grid


def coloured(n: int, size: int = 16) -> np.ndarray:
    """n images, image k filled with (10 k, 200 - 10 k, 7 k) and a black top-left pixel."""
    imgs = np.zeros((n, size, size, 3), np.uint8)
    for k in range(n):
        imgs[k] = (10 * k, 200 - 10 * k, 7 * k)
        imgs[k, 0, 0] = 0
    return imgs


def test_five_images_three_columns() -> None:
    imgs = coloured(5)
    grid = make_grid(imgs, cols=3, pad=4, background=255)
    assert grid.shape == (2 * 16 + 3 * 4, 3 * 16 + 4 * 4, 3) and grid.dtype == np.uint8
    covered = np.zeros(grid.shape[:2], bool)
    for k in range(5):
        r, c = divmod(k, 3)
        y, x = 4 + r * 20, 4 + c * 20
        np.testing.assert_array_equal(grid[y:y + 16, x:x + 16], imgs[k])
        covered[y:y + 16, x:x + 16] = True
    assert (grid[~covered] == 255).all()  # padding and the empty sixth cell


def test_default_columns_and_options() -> None:
    imgs = coloured(5, 8)
    assert make_grid(imgs, pad=0).shape == (16, 24, 3)  # ceil(sqrt(5)) = 3 columns
    assert make_grid(imgs, cols=10, pad=0).shape == (8, 40, 3)  # capped at N
    assert make_grid(imgs[:1], pad=2).shape == (12, 12, 3)
    grid = make_grid(imgs, cols=1, pad=1, background=(1, 2, 3))
    assert grid.shape == (5 * 8 + 6, 10, 3) and tuple(grid[0, 0]) == (1, 2, 3)
    grey = make_grid(imgs[..., 0], cols=5, pad=0)  # (N, H, W) stays greyscale
    assert grey.shape == (8, 40) and grey[0, 9] == imgs[1, 0, 1, 0]
    floats = torch.from_numpy(imgs).float() / 255  # torch float in [0, 1]
    np.testing.assert_array_equal(make_grid(floats, cols=3), make_grid(imgs, cols=3))


def test_rgba_composited_on_white() -> None:
    imgs = np.zeros((2, 4, 4, 4), np.uint8)
    imgs[..., :3] = (200, 0, 0)
    imgs[0, ..., 3] = 255
    imgs[1, :2, :, 3] = 0
    imgs[1, 2:, :, 3] = 128
    grid = make_grid(imgs, cols=2, pad=1, background=0)
    assert grid.shape == (6, 11, 3)
    assert (grid[1:5, 1:5] == (200, 0, 0)).all()
    assert (grid[1:3, 6:10] == 255).all()  # transparent -> white, whatever the background
    assert (np.abs(grid[3:5, 6:10].astype(int) - (228, 127, 127)) <= 1).all()
    assert (grid[0] == 0).all()


def test_save_grid(tmp_path: Path) -> None:
    imgs = coloured(5)
    path = save_grid(tmp_path / "views" / "grid.png", imgs, cols=3)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), make_grid(imgs, cols=3))


@pytest.mark.parametrize("kwargs", [{"cols": 0}, {"pad": -1}, {"background": 300}])
def test_bad_options(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_grid(coloured(2), **kwargs)
    with pytest.raises(ValueError):
        make_grid(np.zeros((0, 4, 4, 3), np.uint8))
