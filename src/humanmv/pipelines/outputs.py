"""Write a generation to disk: everything `humanmv generate` promises, in one folder.

    views/NNN.png    RGBA views (alpha = person mask)
    normals/NNN.png  camera-space normals as (n + 1) / 2, alpha = mask
    masks/NNN.png    person masks (0/255)
    cameras.json     our cameras (OpenCV K + world-to-camera), transforms.json (nerfstudio)
    grid.png, turntable.mp4, avatar.glb, texture.png, fit.json, run.json

The caller wraps this in `io.atomic.atomic_output_dir`, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from humanmv.cameras import orbit_cameras_around, ring_azimuths
from humanmv.io.glb import save_glb
from humanmv.io.grid import save_grid
from humanmv.io.images import save_png
from humanmv.io.transforms import save_cameras_json, save_transforms_json
from humanmv.io.video import save_turntable
from humanmv.pipelines.fitting import fit_summary

TURNTABLE_FRAMES = 48
TURNTABLE_FPS = 24
TURNTABLE_MAX_SIZE = 384


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def save_generation(pipe, result, out_dir: Path, run_info: dict | None = None) -> dict[str, float]:
    """Write every output of `result` (a prior.GenerationResult) into `out_dir`; returns the
    seconds spent per output kind."""
    timings: dict[str, float] = {}
    views = result.views
    cams = views.cameras

    t = time.perf_counter()
    rgba = _uint8(views.rgba)
    normal_rgba = _uint8(torch.cat([(views.normal + 1) / 2 * views.mask[..., None],
                                    views.mask[..., None]], dim=-1))
    masks = _uint8(views.mask)
    for folder in ("views", "normals", "masks"):
        (out_dir / folder).mkdir()
    jobs = []
    for i, name in enumerate(cams.names):
        jobs += [(out_dir / "views" / f"{name}.png", rgba[i]),
                 (out_dir / "normals" / f"{name}.png", normal_rgba[i]),
                 (out_dir / "masks" / f"{name}.png", masks[i])]
    # PNG compression releases the GIL, so two threads use both cores. The folder is committed
    # atomically as a whole; per-file fsyncs would only cost time.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda job: save_png(*job, fsync=False), jobs))
    paths = [f"views/{name}.png" for name in cams.names]
    timings["views"] = time.perf_counter() - t

    t = time.perf_counter()
    save_cameras_json(out_dir / "cameras.json", cams)
    save_transforms_json(out_dir / "transforms.json", cams, paths)
    save_grid(out_dir / "grid.png", rgba)
    timings["cameras_grid"] = time.perf_counter() - t

    t = time.perf_counter()
    # A generator that reconstructs (mvdiff fuses its views into the texture) returns its avatar.
    avatar = result.views.avatar if result.views.avatar is not None else result.subject.avatar
    texture = _uint8(avatar.texture)
    save_glb(out_dir / "avatar.glb", avatar.vertices, avatar.faces, avatar.uvs, avatar.uv_faces, texture)
    save_png(out_dir / "texture.png", texture)
    timings["glb"] = time.perf_counter() - t

    t = time.perf_counter()
    size = min(TURNTABLE_MAX_SIZE, max(cams.width, cams.height))
    size -= size % 2
    ring = orbit_cameras_around(result.subject.focus, ring_azimuths(TURNTABLE_FRAMES), 5.0, fov_deg=30.0, width=size, height=size,
                                margin=1.05)
    frames = pipe.renderer.render(avatar, ring, outputs=("mask", "rgb"))
    on_white = frames.rgb * frames.mask[..., None] + (1 - frames.mask[..., None])
    save_turntable(out_dir / "turntable.mp4", _uint8(on_white), fps=TURNTABLE_FPS)
    timings["turntable"] = time.perf_counter() - t

    summary = fit_summary(result.fit, pipe.body)
    (out_dir / "fit.json").write_text(json.dumps(summary, indent=1))
    run = {
        "humanmv": _version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "generator": pipe.generator.name,
        "mode": result.subject.mode,
        "views": len(cams),
        "size": [cams.width, cams.height],
        "timings_s": {k: round(v, 3) for k, v in {**result.timings, **timings}.items()},
        **(run_info or {}),
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=1))
    return timings


def _version() -> str:
    from humanmv import __version__

    return __version__
