"""`humanmv animate` and `humanmv app`: the avatar in motion and the demo page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from humanmv.cli.root import app
from humanmv.log import setup_logging


@app.command()
def animate(
    avatar: Path = typer.Argument(..., help="A rigged avatar.glb (written by `humanmv generate`)."),
    motion: str = typer.Option("walk", "--motion", help="A clip of the GLB (walk, wave, idle, photo) or a motion JSON file (see the README)."),
    out: Path = typer.Option(..., "--out", help="Output video (.mp4; must not exist unless --overwrite)."),
    camera: str = typer.Option("front", "--camera", help="front (still, facing the avatar) or orbit (once round it)."),
    seconds: float = typer.Option(4.0, "--seconds", help="Video length; clips loop."),
    fps: float = typer.Option(24.0, "--fps", help="Frames per second."),
    size: int = typer.Option(512, "--size", help="Frame size in pixels (square, even)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing video."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Render a rigged avatar.glb playing a clip or a motion file into an MP4."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError
    from humanmv.rig.animate import AnimationConfig

    start = time.perf_counter()
    config = AnimationConfig(seconds=seconds, fps=fps, size=size, camera=camera)
    config.check()
    if out.suffix.lower() != ".mp4":
        raise ConfigError(f"--out must be an .mp4 file, got {out}")
    from humanmv.io.atomic import refuse_existing_output

    refuse_existing_output(out, overwrite)
    from humanmv.io.gltf_skin import load_rig

    rig = load_rig(avatar)
    if motion in rig.clips:
        clip = rig.clips[motion]
    elif motion.lower().endswith(".json") or Path(motion).is_file():
        from humanmv.rig.motions import load_motion, motion_to_clip

        clip = motion_to_clip(rig, load_motion(motion, rig.joint_names))
    else:
        raise ConfigError(f"--motion {motion!r} is neither a clip of {avatar} ({', '.join(rig.clips) or 'none'}) "
                          "nor a motion JSON file")
    from rich.progress import Progress

    from humanmv.io.video import save_turntable
    from humanmv.render import Renderer
    from humanmv.rig.animate import render_animation

    renderer = Renderer()
    with Progress(disable=quiet, transient=True) as bar:
        task = bar.add_task(f"animate {clip.name}", total=config.frames)
        frames = render_animation(rig, clip, renderer, config,
                                  progress=lambda done, total: bar.update(task, completed=done))
        bar.update(task, description="encoding")
        save_turntable(out, frames, fps=fps)
    if not quiet:
        print(f"{len(frames)} frames of {clip.name} in {time.perf_counter() - start:.1f} s -> {out}")


@app.command("app")
def app_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (0.0.0.0: every network interface)."),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    workers: int = typer.Option(1, "--workers", help="Jobs generated at the same time (they share one set of loaded models)."),
    queue: int = typer.Option(4, "--queue", help="Jobs that may wait for a worker; more than --workers + --queue at once are told the server is busy."),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", help="Largest upload accepted, in MB."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Folder for uploads and job outputs (default: a temporary folder, removed on exit)."),
    keep_jobs: int = typer.Option(16, "--keep-jobs", help="Finished jobs kept on disk in all (the oldest are removed first)."),
    texture_size: int = typer.Option(1024, "--texture-size", help="UV texture size in pixels."),
    device: str = typer.Option("cpu", "--device", help="Where the models run: cpu, cuda, ..."),
    views: int = typer.Option(16, "--views", help="The page's default number of views."),
    size: int = typer.Option(256, "--size", help="The page's default view size in pixels."),
) -> None:
    """The demo page: upload a photo, see the views, the turntable and the animated 3D avatar,
    download everything as a zip (gradio, offline)."""
    setup_logging(False)
    from humanmv.app.config import AppConfig

    config = AppConfig(host=host, port=port, workers=workers, queue=queue, max_upload_mb=max_upload_mb,
                       workdir=workdir, keep_jobs=keep_jobs, texture_size=texture_size, device=device,
                       views=views, size=size).check()
    from humanmv.app.server import launch

    launch(config)
