"""`humanmv synth`, `humanmv import-scans` and `humanmv prune`: the datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from humanmv.cli.root import app
from humanmv.log import setup_logging


@app.command()
def synth(
    preset: str = typer.Option("body-train", "--preset", help="body-train, body-bench, body-train-clothed, body-bench-clothed, head-train, head-bench, head-train-haired or head-bench-haired."),
    subjects: int = typer.Option(..., "--subjects", help="Number of subjects."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (re-running completes it)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed (same seed, same files)."),
    workers: int = typer.Option(1, "--workers", help="Processes rendering subjects in parallel (same files for any number)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write a contact sheet (16 subjects x 4 views)."),
    source: str = typer.Option("engine", "--source", help="Colours: engine (painted textures, garment shells) or gan3d (3DHumanGAN drawn on the same bodies; body-train / body-bench)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="With --source gan3d: the generator folder (default: the shipped gan3d-small)."),
    truncation: float = typer.Option(0.7, "--truncation", help="With --source gan3d: truncation psi (0 = the average person, 1 = none)."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Synthetic multi-view people with ground truth (RGBA, normals, depth, masks, part labels)."""
    setup_logging(quiet)
    from humanmv.data.engine import get_preset
    from humanmv.errors import ConfigError

    get_preset(preset)
    if not 1 <= subjects <= 1_000_000:
        raise ConfigError(f"--subjects must be within 1..1000000, got {subjects}")
    if not 1 <= workers <= 64:
        raise ConfigError(f"--workers must be within 1..64, got {workers}")
    from rich.progress import Progress

    from humanmv.data.synth import SynthSource, synthesize
    from humanmv.shards import current_shard

    synth_source = SynthSource(source, None if checkpoint is None else str(checkpoint), truncation)

    shard = current_shard()  # under `accelerate launch`: this process's share of the subjects
    with Progress(disable=quiet or not shard.is_main, transient=True) as bar:
        task = bar.add_task(f"synth {preset}" + (f" (process 0 of {shard.count})" if shard.count > 1 else ""),
                            total=subjects)
        report = synthesize(out, preset, subjects, seed, workers=workers, shard=shard, source=synth_source,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    if not shard.is_main:
        return
    if preview is not None:
        from humanmv.data.synth import contact_sheet

        contact_sheet(out, preview)
    if not quiet:
        print(f"{report['written']} subjects written, {report['skipped']} already there -> {out}")


@app.command("import-scans")
def import_scans_command(
    src: Path = typer.Argument(..., help="Folder of scans (OBJ+MTL+texture, GLB/GLTF, coloured PLY)."),
    out: Path = typer.Option(..., "--out", help="Output dataset folder (created when complete)."),
    up: str = typer.Option("+y", "--up", help="The scans' up axis: +x, -x, +y, -y, +z or -z."),
    front: str = typer.Option("+z", "--front", help="The direction the scanned person faces."),
    height: Optional[float] = typer.Option(None, "--height", help="Scale every scan to this height (m)."),
    views: int = typer.Option(24, "--views", help="Orbit views per scan."),
    size: int = typer.Option(512, "--size", help="View size in pixels."),
    allow_untextured: bool = typer.Option(False, "--allow-untextured", help="Render untextured scans grey."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Render folders of textured scans (THuman2.1, 2K2K, CustomHumans, GLB...) into the
    multi-view subject format."""
    setup_logging(quiet)
    from humanmv.data.scans import import_scans
    from humanmv.pipelines.checks import check_view_options

    check_view_options(views, None, size)
    report = import_scans(src, out, views=views, size=size, up=up, front=front, height=height,
                          overwrite=overwrite, allow_untextured=allow_untextured)
    if not quiet:
        print(report.summary())
        for failure in report.failed:
            print(f"  failed: {failure}")


@app.command()
def prune(
    root: Path = typer.Argument(..., help="Dataset folder (subject folders, or subjects/ inside)."),
    tau: float = typer.Option(0.7, "--tau", help="Share of subjects kept by identity consistency."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be removed; move nothing."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Prune synthetic multi-view data (seed 001): drop back views with a face (Janus) and keep
    the top --tau of subjects by identity consistency. Moves to _pruned/, never deletes."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError

    if not 0 < tau <= 1:
        raise ConfigError(f"--tau must be within (0, 1], got {tau}")
    from humanmv.data.prune import prune_dataset

    report = prune_dataset(root, tau=tau, dry_run=dry_run)
    if not quiet:
        print(report.summary())
        for r in report.removals:
            print(f"  {r.subject}{'/' + r.view if r.view else ''}: {r.reason} -> {r.moved_to}")
