"""Camera files of an output folder: our `cameras.json` and nerfstudio's `transforms.json`.

`cameras.json` is `Cameras.to_json()` (docs/architecture.md: per view name, K, world-to-camera, width,
height, az, el; read back with `Cameras.load`). `transforms.json` is the nerfstudio /
instant-ngp format from `humanmv.cameras.to_transforms_json`: per frame an OpenGL
camera-to-world matrix (x right, y up, z back), pixel intrinsics fl_x, fl_y, cx, cy with
pixel centres at integer + 0.5, as in our `K`, and the frame's own w, h (views may differ in
size; the top-level w, h appear only when all views share one). Both are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from humanmv.cameras import Cameras, to_transforms_json
from humanmv.io.atomic import atomic_write_text


def save_cameras_json(path: str | os.PathLike[str], cameras: Cameras) -> Path:
    """Write `cameras.to_json()` as `path`. Returns the path written."""
    return atomic_write_text(Path(path), json.dumps(cameras.to_json(), indent=1) + "\n")


def save_transforms_json(path: str | os.PathLike[str], cameras: Cameras,
                         image_paths: Sequence[str | os.PathLike[str]]) -> Path:
    """Write nerfstudio's `transforms.json` for `cameras` and their images.

    Args:
        path: the JSON file.
        cameras: C cameras; image i must be `cameras.sizes[i]` (its own size, not the canvas).
        image_paths: C image paths, as the reader should resolve them: relative to the JSON
            file's folder (e.g. "rgb/000.png"), written with forward slashes.
    Returns:
        the path written. Raises ValueError when the counts differ.
    """
    paths = [Path(p).as_posix() for p in image_paths]
    if len(paths) != len(cameras):
        raise ValueError(f"transforms.json needs one image per camera: {len(cameras)} cameras, "
                         f"{len(paths)} image paths")
    data = to_transforms_json(cameras, paths)
    return atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")
