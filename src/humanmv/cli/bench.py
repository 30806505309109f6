"""`humanmv bench`: score methods on a synthetic split or on real photos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from humanmv.cli.root import app
from humanmv.log import setup_logging


@app.command()
def bench(
    split: Optional[Path] = typer.Option(None, "--split", help="A `humanmv synth` dataset folder (e.g. --preset body-bench)."),
    real: Optional[Path] = typer.Option(None, "--real", help="Instead of --split: a folder of real photos (no ground truth)."),
    method: list[str] = typer.Option(["copy-input", "prior"], "--method", help="Method to score (repeatable): copy-input or a generator, as NAME or NAME[KEY=VALUE,...], e.g. mvdiff[reconstruct=none] or mvdiff[checkpoint=DIR,steps=10] (see `humanmv generators`)."),
    out: Path = typer.Option(..., "--out", help="Results folder (results.json, results.md, comparison.png)."),
    subset: str = typer.Option("auto", "--subset", help="--split subjects: auto (all of a *-bench dataset, else test), test, val, train or all."),
    subjects: int = typer.Option(0, "--subjects", help="At most this many subjects / photos (0 = all)."),
    lpips_weights: Optional[list[Path]] = typer.Option(None, "--lpips-weights", help="LPIPS weights: one combined file, or the flag twice (AlexNet trunk, then heads)."),
    inception_weights: Optional[Path] = typer.Option(None, "--inception-weights", help="Inception-v3 weights for FID/KID (e.g. pt_inception-2015-12-05-6726825d.pth)."),
    clip_weights: Optional[Path] = typer.Option(None, "--clip-weights", help="CLIP ViT-B/32 image-encoder weights for CLIP similarity."),
    views: int = typer.Option(16, "--views", help="--real: orbit views per photo."),
    size: int = typer.Option(256, "--size", help="--real: view size in pixels."),
    fit_mode: str = typer.Option("auto", "--mode", help="How generators fit each input: auto, body or head (a portrait bench: head; head-only generators always fit heads)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing results folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Score view generators: on held-out synthetic subjects (--split: PSNR, SSIM, LPIPS, IoU,
    front/back, face identity, FID, CLIP, view consistency) or on real photos (--real: success
    rate, time, face identity, pose PCK, view consistency)."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError
    from humanmv.eval.methods import check_methods
    from humanmv.io.atomic import atomic_output_dir, refuse_existing_output

    if (split is None) == (real is None):  # everything is checked before any work
        raise ConfigError("give either --split DIR (a `humanmv synth` dataset) or --real DIR (photos)")
    if fit_mode not in ("auto", "body", "head"):
        raise ConfigError(f"--mode must be auto, body or head, got {fit_mode!r}")
    check_methods(method)
    if split is not None:
        from humanmv.eval.bench import check_split, split_folders

        folders = split_folders(split, subset, subjects)
        check_split(folders)
    else:
        from humanmv.eval.real import photo_paths

        if not 1 <= views <= 64 or not 64 <= size <= 2048:
            raise ConfigError(f"--views must be within 1..64 and --size within 64..2048, got {views} and {size}")
        paths = photo_paths(real, subjects)
    refuse_existing_output(out, overwrite)
    from humanmv.eval.nets import load_metric_nets

    nets = load_metric_nets(lpips_weights or None, inception_weights, clip_weights)
    from rich.progress import Progress

    from humanmv.eval.bench import Bench
    from humanmv.eval.report import results_markdown, write_results

    runner = Bench(method, nets, mode=fit_mode)  # loads every method's models: a broken checkpoint fails here
    with Progress(disable=quiet, transient=True) as bar:
        task = bar.add_task("bench", total=None)
        tick = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if split is not None:
            results, inputs = runner.run_split(folders, tick)
        else:
            from humanmv.eval.real import run_photos

            results, inputs = run_photos(runner, paths, views, size, tick)
    mode = "split" if split is not None else "real"
    run = {"fit_mode": fit_mode, "split": str(split) if split else None, "real": str(real) if real else None, "methods": method,
           "method_settings": runner.settings(), "subset": subset, "views": views if real else None, "size": size if real else None}
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        summary = write_results(tmp, results, inputs, mode, run)
    if not quiet:
        print(results_markdown(summary, mode))
