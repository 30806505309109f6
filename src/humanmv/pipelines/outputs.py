"""The export stage: everything `humanmv generate` promises, written into one folder.

    views/NNN.png    RGBA views (alpha = person mask), each at its camera's own size
    normals/NNN.png  camera-space normals as (n + 1) / 2, alpha = mask
    masks/NNN.png    person masks (0/255)
    cameras.json     our cameras (OpenCV K + world-to-camera), transforms.json (nerfstudio)
    grid.png, turntable.mp4
    avatar.glb, texture.png   the exported avatar (after reconstruction) and its texture; by
                     default rigged (Anny's skeleton as a glTF skin, clips "photo", "idle",
                     "walk", "wave": `humanmv.rig`), static with rig=False
    avatar.json      how to rebuild avatar.glb's mesh from Anny parameters, and its rig (`recon.avatar`)
    surface.json     after --reconstruct surface: the body-surface offsets and the shells' specs
                     (`recon.rebuild_vertices(body, avatar_json, surface_json)` rebuilds the mesh)
    fit.json         the photo's fit (camera, body parameters, metrics), before any refit
    run.json         versions, generator and its options, seed, per-stage timings, the
                     generator's notes on its run (gan3d: the inversion's photo-view PSNR)

The caller wraps this in `io.atomic.atomic_output_dir` (`Studio.save` does), so a failure
leaves nothing behind.
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
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def save_generation(result, out_dir: Path, renderer, body, run_info: dict | None = None,
                    rig: bool = True) -> dict[str, float]:
    """Write every output of `result` (a `humanmv.studio.GenerationResult`) into `out_dir`;
    `renderer` draws the turntable, `body` names the avatar's parameters; `rig`: avatar.glb is
    rigged and animated (when the avatar is an Anny body), else static. Returns the seconds
    spent per output kind."""
    timings: dict[str, float] = {}
    views = result.views
    cams = views.cameras

    t = time.perf_counter()
    rgba = _uint8(views.rgba)
    normal_rgba = _uint8(torch.cat([(views.normal + 1) / 2 * views.mask[..., None], views.mask[..., None]], dim=-1))
    masks = _uint8(views.mask)
    for folder in ("views", "normals", "masks"):
        (out_dir / folder).mkdir()
    jobs = []
    for i, name in enumerate(cams.names):
        w, h = (int(s) for s in cams.sizes[i])  # each view at its own size (views.Views layout)
        jobs += [(out_dir / "views" / f"{name}.png", rgba[i, :h, :w]),
                 (out_dir / "normals" / f"{name}.png", normal_rgba[i, :h, :w]),
                 (out_dir / "masks" / f"{name}.png", masks[i, :h, :w])]
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
    avatar = result.avatar
    mesh = avatar.mesh
    texture = _uint8(mesh.texture)
    rig_section = None
    if rig and avatar.params is not None:
        from humanmv.io.gltf_skin import save_rigged_glb
        from humanmv.rig.skeleton import build_rig

        built = build_rig(body, avatar)
        save_rigged_glb(out_dir / "avatar.glb", built)
        rig_section = avatar.rig_json(built, body)
    else:
        save_glb(out_dir / "avatar.glb", mesh.vertices, mesh.faces, mesh.uvs, mesh.uv_faces, texture)
    save_png(out_dir / "texture.png", texture)
    (out_dir / "avatar.json").write_text(json.dumps(avatar.to_json(body, rig=rig_section), indent=1))
    if avatar.offsets is not None:
        (out_dir / "surface.json").write_text(json.dumps(avatar.surface_json()))
    timings["glb"] = time.perf_counter() - t

    t = time.perf_counter()
    size = min(TURNTABLE_MAX_SIZE, max(cams.width, cams.height))
    size -= size % 2
    ring = orbit_cameras_around(result.subject.focus, ring_azimuths(TURNTABLE_FRAMES), 5.0, fov_deg=30.0,
                                width=size, height=size, margin=1.05)
    frames = renderer.render(mesh, ring, outputs=("mask", "rgb"))
    on_white = frames.rgb * frames.mask[..., None] + (1 - frames.mask[..., None])
    save_turntable(out_dir / "turntable.mp4", _uint8(on_white), fps=TURNTABLE_FPS)
    timings["turntable"] = time.perf_counter() - t

    summary = fit_summary(result.fit, body)
    (out_dir / "fit.json").write_text(json.dumps(summary, indent=1))
    run = {
        "humanmv": _version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **result.choice.to_json(),
        "mode": result.subject.mode,
        "views": len(cams),
        "size": [cams.width, cams.height],  # the largest view's; each view's own in cameras.json
        "timings_s": {k: round(v, 3) for k, v in {**result.timings, **timings}.items()},
        **({"generator_notes": result.notes} if result.notes else {}),
        **(run_info or {}),
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=1))
    return timings


def _version() -> str:
    from humanmv import __version__

    return __version__
