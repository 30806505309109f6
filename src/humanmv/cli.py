"""The `humanmv` command. It only parses options and calls pipelines; every user error is a
`HumanMVError`, printed as one line on stderr with exit code 2."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from humanmv.errors import HumanMVError
from humanmv.log import setup_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="One photo of a person -> consistent multi-view images and a 3D avatar.")


@app.command()
def setup() -> None:
    """Build the one-time caches (Anny's parsed assets) and check every model loads."""
    from humanmv.setup_check import run_setup

    run_setup()


FOCAL_MM_HELP = ("The photo's focal length in mm, 35-mm equivalent (a phone's main camera is ~26); "
                 "overrides the photo's EXIF.")
INTRINSICS_HELP = ('The photo\'s intrinsics in pixels of the upright photo: "fx,fy,cx,cy" or a JSON file '
                   '({"K": 3x3}, {"fx","fy","cx","cy"} or a cameras.json); overrides --focal-mm and EXIF.')


def _camera_options(focal_mm: Optional[float], intrinsics: Optional[str]) -> tuple[Optional[float], Optional[list]]:
    """--focal-mm and --intrinsics checked before any slow work (and before torch is imported):
    (focal_mm, K as 3 rows of 3 floats, or None)."""
    from humanmv.body.photo_intrinsics import check_focal_mm, parse_intrinsics_values

    focal_mm = check_focal_mm(focal_mm)
    K = parse_intrinsics_values(intrinsics) if intrinsics is not None else None
    if K is not None and focal_mm is not None:
        from humanmv.log import log

        log.info("--focal-mm %g is not used: --intrinsics gives the focal length", focal_mm)
    return focal_mm, K


def _K_tensor(rows: Optional[list]):
    """The checked rows of --intrinsics as the (3, 3) float32 tensor the fit takes (torch is
    imported only here, once the slow part has begun anyway)."""
    if rows is None:
        return None
    import torch

    return torch.tensor(rows, dtype=torch.float32)


@app.command()
def fit(
    image: Path = typer.Argument(..., help="Photo of one person (JPEG, PNG, WebP, BMP, TIFF)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created; must not exist unless --overwrite)."),
    mode: str = typer.Option("auto", "--mode", help="body, head, or auto (body if the torso is visible)."),
    size: int = typer.Option(512, "--size", help="Size of the normal-map views in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same output)."),
    focal_mm: Optional[float] = typer.Option(None, "--focal-mm", help=FOCAL_MM_HELP),
    intrinsics: Optional[str] = typer.Option(None, "--intrinsics", help=INTRINSICS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Fit the Anny body (or head) to a photo: fit.json, overlay.png, normals/*.png."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError

    if mode not in ("auto", "body", "head"):
        raise ConfigError(f"--mode must be auto, body or head, got {mode!r}")
    if not 64 <= size <= 4096:
        raise ConfigError(f"--size must be within 64..4096 pixels, got {size}")
    focal_mm, K = _camera_options(focal_mm, intrinsics)
    from humanmv.io.atomic import atomic_output_dir, refuse_existing_output
    from humanmv.io.images import load_image

    start = time.perf_counter()
    refuse_existing_output(out, overwrite)  # fail before the slow part
    photo = load_image(image)
    if K is not None:
        from humanmv.body.photo_intrinsics import check_K_for_photo

        check_K_for_photo(K, photo.width, photo.height)
    # Perception runs in a child process while this one imports torch and loads Anny.
    from humanmv.perception.background import BackgroundPerception
    from humanmv.pipelines.checks import perception_options

    with BackgroundPerception(photo.rgb, **perception_options(mode, photo.path.name)) as perceiving:
        from humanmv.pipelines.fitting import FitPipeline, save_fit_outputs

        pipe = FitPipeline()
        pf = pipe(photo, mode=mode, seed=seed, perception=perceiving.result(), focal_mm=focal_mm,
                  K=_K_tensor(K))
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        save_fit_outputs(pipe, pf, tmp, size)
    if not quiet:
        m = pf.fit
        extra = f", silhouette IoU {pf.silhouette_iou:.3f}" if pf.silhouette_iou is not None else ""
        print(f"fitted {m.mode} to {image} in {time.perf_counter() - start:.1f} s{extra} -> {out}")


def _silence_native_stderr() -> None:
    """Keep C++ libraries' log lines (mediapipe/TFLite write several per run straight to file
    descriptor 2) off the terminal, so an error is one line: Python's stderr moves to a copy of
    the terminal's descriptor and descriptor 2 goes to /dev/null. Set HUMANMV_NATIVE_LOGS=1 to
    keep them."""
    if os.environ.get("HUMANMV_NATIVE_LOGS") == "1":
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (e.g. under a test runner)
        pass


@app.command()
def generate(
    image: Path = typer.Argument(..., help="Photo of one person (JPEG, PNG, WebP, BMP, TIFF), or a folder of photos / a .txt list of photo paths (a batch: one output folder per photo in --out, summary.json; re-running resumes)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created; must not exist unless --overwrite)."),
    mode: str = typer.Option("auto", "--mode", help="body, head, or auto (body if the torso is visible)."),
    views: int = typer.Option(16, "--views", help="Number of orbit views, evenly spaced from the front."),
    cameras: Optional[Path] = typer.Option(None, "--cameras", help="cameras.json with custom cameras (instead of --views); views may differ in size."),
    size: Optional[int] = typer.Option(None, "--size", help="View size in pixels (default 512; with --cameras, rescales them)."),
    generator: str = typer.Option("prior", "--generator", help="View generator (`humanmv generators` lists them with their options)."),
    opt: Optional[list[str]] = typer.Option(None, "--opt", help="A stage option, STAGE.KEY=VALUE (repeatable), e.g. mvdiff.steps=10 or reconstruct.photo_trust=4."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights folder of the generator (default: its shipped weights)."),
    reconstruct: Optional[str] = typer.Option(None, "--reconstruct", help="Views -> 3D: none, texture (fuse the views into the texture), refit (refit the body, then texture) or surface (default: the generator's)."),
    refine: Optional[str] = typer.Option(None, "--refine", help="Refine stages after the generator, comma-separated, or none (default: the generator's)."),
    texture_size: int = typer.Option(1024, "--texture-size", help="UV texture size in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same output)."),
    focal_mm: Optional[float] = typer.Option(None, "--focal-mm", help=FOCAL_MM_HELP),
    intrinsics: Optional[str] = typer.Option(None, "--intrinsics", help=INTRINSICS_HELP + " In a batch: every photo's."),
    no_rig: bool = typer.Option(False, "--no-rig", help="Write a static avatar.glb (no skeleton, no clips)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Views all round + a textured 3D avatar from one photo (views/, normals/, masks/,
    cameras.json, transforms.json, grid.png, turntable.mp4, avatar.glb, avatar.json, fit.json,
    run.json)."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError
    from humanmv.pipelines.checks import FIT_MODES, check_view_options, perception_options

    if mode not in FIT_MODES:
        raise ConfigError(f"--mode must be auto, body or head, got {mode!r}")
    if not 256 <= texture_size <= 4096:
        raise ConfigError(f"--texture-size must be within 256..4096, got {texture_size}")
    focal_mm, K = _camera_options(focal_mm, intrinsics)
    start = time.perf_counter()
    from humanmv.io.atomic import refuse_existing_output
    from humanmv.io.images import load_image
    from humanmv.pipelines.batch import is_batch_source, plan_batch

    batch = is_batch_source(image)  # a folder or a .txt list: --out holds one folder per photo
    if batch:
        plan_batch(image)  # an empty folder or list fails here, before torch is imported
    else:
        refuse_existing_output(out, overwrite)
    custom = None
    if cameras is not None:
        from humanmv.cameras import Cameras

        custom = Cameras.load(cameras)
    check_view_options(views, custom, size)
    if batch:
        if no_rig:
            raise ConfigError("--no-rig is for one photo; a batch writes rigged avatars")
        from humanmv.generators import GeneratorChoice

        choice = GeneratorChoice.from_flags(generator, opt, checkpoint, reconstruct, refine)
        return _generate_batch(image, out, quiet, choice=choice, mode=mode, views=views, cameras=custom,
                               size=size, texture_size=texture_size, seed=seed, overwrite=overwrite,
                               focal_mm=focal_mm, K=_K_tensor(K))
    photo = load_image(image)
    if K is not None:
        from humanmv.body.photo_intrinsics import check_K_for_photo

        check_K_for_photo(K, photo.width, photo.height)
    from humanmv.perception.background import BackgroundPerception

    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    # Perception runs in a child process (forked before torch is imported) while this one
    # loads the models; the generator choice is checked as soon as the registry is imported.
    perceiving = BackgroundPerception(photo.rgb, **perception_options(mode, photo.path.name))
    with perceiving, console.status("loading models") as status:
        from humanmv.generators import GeneratorChoice

        choice = GeneratorChoice.from_flags(generator, opt, checkpoint, reconstruct, refine)
        from humanmv.studio import Studio

        studio = Studio(texture_size=texture_size)
        result = studio.generate(photo, choice, mode=mode, views=views, cameras=custom, size=size, seed=seed,
                                 perception=perceiving.result(), focal_mm=focal_mm, K=_K_tensor(K),
                                 progress=lambda s: status.update(s))
        status.update("writing outputs")
        studio.save(result, out, overwrite=overwrite, run_info={"seed": seed, "image": str(image)}, rig=not no_rig)
    if not quiet:
        n = len(result.views.cameras)
        print(f"{n} {result.subject.mode} views of {image} in {time.perf_counter() - start:.1f} s -> {out}")


def _generate_batch(source: Path, out: Path, quiet: bool, **settings) -> None:
    """`generate PHOTOS_DIR|LIST.txt`: every photo into out/<name>/ (humanmv.pipelines.batch);
    exit code 0 when every photo is ok or skipped, 3 when one failed (see out/summary.json)."""
    from humanmv.pipelines.batch import GenerateSettings, run_batch

    def load_studio():
        from humanmv.studio import Studio

        return Studio(texture_size=settings["texture_size"])

    report = run_batch(source, out, GenerateSettings(**settings), load_studio, quiet=quiet)
    if not quiet and report.summary is not None:
        c = report.counts()
        print(f"{c['ok']} ok, {c['skipped']} skipped, {c['failed']} failed of {c['total']} photos "
              f"in {report.seconds:.1f} s -> {report.summary}")
        for r in report.records:
            if r.status == "failed":
                print(f"  failed: {r.photo}: {r.reason}")
    raise typer.Exit(report.exit_code)


@app.command()
def generators() -> None:
    """The registered view generators and refine stages, with their modes, defaults and options."""
    from humanmv.generators.listing import generators_text

    print(generators_text())


@app.command()
def synth(
    preset: str = typer.Option("body-train", "--preset", help="body-train, body-bench, head-train or head-bench."),
    subjects: int = typer.Option(..., "--subjects", help="Number of subjects."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (re-running completes it)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed (same seed, same files)."),
    workers: int = typer.Option(1, "--workers", help="Processes rendering subjects in parallel (same files for any number)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write a contact sheet (16 subjects x 4 views)."),
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

    from humanmv.data.synth import synthesize
    from humanmv.shards import current_shard

    shard = current_shard()  # under `accelerate launch`: this process's share of the subjects
    with Progress(disable=quiet or not shard.is_main, transient=True) as bar:
        task = bar.add_task(f"synth {preset}" + (f" (process 0 of {shard.count})" if shard.count > 1 else ""),
                            total=subjects)
        report = synthesize(out, preset, subjects, seed, workers=workers, shard=shard,
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

    runner = Bench(method, nets)  # loads every method's models: a broken checkpoint fails here
    with Progress(disable=quiet, transient=True) as bar:
        task = bar.add_task("bench", total=None)
        tick = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if split is not None:
            results, inputs = runner.run_split(folders, tick)
        else:
            from humanmv.eval.real import run_photos

            results, inputs = run_photos(runner, paths, views, size, tick)
    mode = "split" if split is not None else "real"
    run = {"split": str(split) if split else None, "real": str(real) if real else None, "methods": method,
           "method_settings": runner.settings(), "subset": subset, "views": views if real else None, "size": size if real else None}
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        summary = write_results(tmp, results, inputs, mode, run)
    if not quiet:
        print(results_markdown(summary, mode))


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


from humanmv.train.cli import train_app  # noqa: E402  (`humanmv train mvdiff ...`)

app.add_typer(train_app, name="train")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning HumanMVError into one line and exit code 2."""
    real_process = argv is None
    if real_process:
        _silence_native_stderr()
    code = 0
    try:
        result = app(args=argv, standalone_mode=False, prog_name="humanmv")
        code = result if isinstance(result, int) else 0
    except HumanMVError as err:
        print(f"humanmv: error: {err}", file=sys.stderr)
        code = err.exit_code
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as err:
        # click's usage errors (typer vendors click, so match by behaviour, not by class):
        # one line, like every other error, instead of a framed box.
        message = getattr(err, "format_message", None)
        if callable(message) and isinstance(getattr(err, "exit_code", None), int):
            if message():  # empty for a bare `humanmv`, which has printed the help
                print(f"humanmv: error: {message()} (see humanmv --help)", file=sys.stderr)
            code = err.exit_code
        elif type(err).__name__ == "Abort":
            code = 130
        else:
            raise
    if real_process:
        # Everything is written and closed; skip the interpreter's teardown of torch, Anny
        # and the GL context, which takes ~1 s and does nothing useful here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
