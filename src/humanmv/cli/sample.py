"""`humanmv sample ...`: samples of the unconditional generators (3DHumanGAN)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from humanmv.log import setup_logging

sample_app = typer.Typer(no_args_is_help=True, help="Sample the generative models (3DHumanGAN people).")


@sample_app.command("gan3d")
def sample_gan3d(
    out: Path = typer.Option(..., "--out", help="Output folder: person-KKK/pose-PPP/views, grid.png, turntable.mp4, walk.mp4, samples.json."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A generator folder (a gan3d run's final/; default: the shipped gan3d-small)."),
    pose: str = typer.Option("random", "--pose", help="random, walk, or a JSON file of one body or a list (BodyParams.to_dict, as in a dataset's meta.json)."),
    views: int = typer.Option(8, "--views", help="Views round each person."),
    count: int = typer.Option(4, "--count", help="People (one z each)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the people's z, bodies and poses."),
    truncation: float = typer.Option(0.7, "--truncation", help="Truncation psi in [0, 1] (1: none)."),
    elevation: float = typer.Option(0.0, "--elevation", help="Camera elevation in degrees."),
    videos: bool = typer.Option(True, "--videos/--no-videos", help="Also write turntable.mp4 and walk.mp4 of person 0."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """People drawn by 3DHumanGAN in given poses and views, with their cameras."""
    setup_logging(quiet)
    from humanmv.pipelines.gan3d_sampling import DEFAULT_CHECKPOINT, GAN3DSampleConfig, sample_people

    config = GAN3DSampleConfig(out=str(out), checkpoint=str(checkpoint or DEFAULT_CHECKPOINT), pose=pose, views=views,
                               count=count, seed=seed, truncation=truncation, elevation=elevation, videos=videos,
                               overwrite=overwrite)
    summary = sample_people(config)
    if not quiet:
        print(f"{count} people x {len(summary['poses']) // count} pose(s) x {views} views -> {out} "
              f"({sum(summary['timings_s'].values()):.1f} s)")
