"""`humanmv fit`, `humanmv generate` (one photo or a batch) and `humanmv generators`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from humanmv.cli.root import app
from humanmv.log import setup_logging


FOCAL_MM_HELP = ("The photo's focal length in mm, 35-mm equivalent (a phone's main camera is ~26); "
                 "overrides the photo's EXIF.")
INTRINSICS_HELP = ('The photo\'s intrinsics in pixels of the upright photo: "fx,fy,cx,cy" or a JSON file '
                   '({"K": 3x3}, {"fx","fy","cx","cy"} or a cameras.json); overrides --focal-mm and EXIF.')


POSE_LIFTER_HELP = ("A pose lifter folder (`humanmv train pose-lifter`'s final/) for the body fit's limb "
                    "depth, instead of the shipped one.")


def _pose_lifter_option(folder: Optional[Path]) -> str | Path:
    """--pose-lifter checked before any slow work: the folder, or "shipped" (FitPipeline's)."""
    if folder is None:
        return "shipped"
    from humanmv.errors import ConfigError

    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ConfigError(f"--pose-lifter {folder}: not a pose lifter folder (config.json + model.safetensors); "
                          "give the final/ folder of `humanmv train pose-lifter`")
    return folder


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


@dataclass
class _FitOptions:
    """The fit's options `fit` and `generate` share, checked before any slow work."""

    focal_mm: Optional[float]
    K_rows: Optional[list]
    lifter: str | Path

    def check_photo(self, photo) -> None:
        """A given K must fit the loaded photo (its principal point inside it)."""
        if self.K_rows is not None:
            from humanmv.body.photo_intrinsics import check_K_for_photo

            check_K_for_photo(self.K_rows, photo.width, photo.height)


def _fit_options(mode: str, focal_mm: Optional[float], intrinsics: Optional[str],
                 pose_lifter: Optional[Path]) -> _FitOptions:
    from humanmv.errors import ConfigError
    from humanmv.pipelines.checks import FIT_MODES

    if mode not in FIT_MODES:
        raise ConfigError(f"--mode must be auto, body or head, got {mode!r}")
    focal_mm, K_rows = _camera_options(focal_mm, intrinsics)
    return _FitOptions(focal_mm, K_rows, _pose_lifter_option(pose_lifter))


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
    pose_lifter: Optional[Path] = typer.Option(None, "--pose-lifter", help=POSE_LIFTER_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Fit the Anny body (or head) to a photo: fit.json, overlay.png, normals/*.png."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError

    fitting = _fit_options(mode, focal_mm, intrinsics, pose_lifter)
    if not 64 <= size <= 4096:
        raise ConfigError(f"--size must be within 64..4096 pixels, got {size}")
    from humanmv.io.atomic import atomic_output_dir, refuse_existing_output
    from humanmv.io.images import load_image

    start = time.perf_counter()
    refuse_existing_output(out, overwrite)  # fail before the slow part
    photo = load_image(image)
    fitting.check_photo(photo)
    # Perception runs in a child process while this one imports torch and loads Anny.
    from humanmv.perception.background import BackgroundPerception
    from humanmv.pipelines.checks import perception_options

    with BackgroundPerception(photo.rgb, **perception_options(mode, photo.path.name)) as perceiving:
        from humanmv.pipelines.fitting import FitPipeline, save_fit_outputs

        pipe = FitPipeline(lifter=fitting.lifter)
        pf = pipe(photo, mode=mode, seed=seed, perception=perceiving.result(), focal_mm=fitting.focal_mm,
                  K=_K_tensor(fitting.K_rows))
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        save_fit_outputs(pipe, pf, tmp, size)
    if not quiet:
        m = pf.fit
        extra = f", silhouette IoU {pf.silhouette_iou:.3f}" if pf.silhouette_iou is not None else ""
        print(f"fitted {m.mode} to {image} in {time.perf_counter() - start:.1f} s{extra} -> {out}")


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
    no_face_stage: bool = typer.Option(False, "--no-face-stage", help="Leave the generator's faces as drawn (mvdiff refines them with the face stage by default)."),
    texture_size: int = typer.Option(1024, "--texture-size", help="UV texture size in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same output)."),
    focal_mm: Optional[float] = typer.Option(None, "--focal-mm", help=FOCAL_MM_HELP),
    intrinsics: Optional[str] = typer.Option(None, "--intrinsics", help=INTRINSICS_HELP + " In a batch: every photo's."),
    pose_lifter: Optional[Path] = typer.Option(None, "--pose-lifter", help=POSE_LIFTER_HELP),
    no_rig: bool = typer.Option(False, "--no-rig", help="Write a static avatar.glb (no skeleton, no clips)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Views all round + a textured 3D avatar from one photo (views/, normals/, masks/,
    cameras.json, transforms.json, grid.png, turntable.mp4, avatar.glb, avatar.json, fit.json,
    run.json)."""
    setup_logging(quiet)
    from humanmv.errors import ConfigError
    from humanmv.pipelines.checks import check_view_options, perception_options

    fitting = _fit_options(mode, focal_mm, intrinsics, pose_lifter)
    without = ("face",) if no_face_stage else ()
    if not 256 <= texture_size <= 4096:
        raise ConfigError(f"--texture-size must be within 256..4096, got {texture_size}")
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
        from humanmv.generators import GeneratorChoice

        choice = GeneratorChoice.from_flags(generator, opt, checkpoint, reconstruct, refine, without)
        return _generate_batch(image, out, quiet, fitting.lifter, choice=choice, mode=mode, views=views, cameras=custom,
                               size=size, texture_size=texture_size, seed=seed, overwrite=overwrite,
                               save_options={"rig": not no_rig},
                               focal_mm=fitting.focal_mm, K=_K_tensor(fitting.K_rows))
    photo = load_image(image)
    fitting.check_photo(photo)
    from humanmv.perception.background import BackgroundPerception

    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    # Perception runs in a child process (forked before torch is imported) while this one
    # loads the models; the generator choice is checked as soon as the registry is imported.
    perceiving = BackgroundPerception(photo.rgb, **perception_options(mode, photo.path.name))
    with perceiving, console.status("loading models") as status:
        from humanmv.generators import GeneratorChoice

        choice = GeneratorChoice.from_flags(generator, opt, checkpoint, reconstruct, refine, without)
        from humanmv.studio import Studio

        studio = Studio(texture_size=texture_size, pose_lifter=fitting.lifter)
        result = studio.generate(photo, choice, mode=mode, views=views, cameras=custom, size=size, seed=seed,
                                 perception=perceiving.result(), focal_mm=fitting.focal_mm,
                                 K=_K_tensor(fitting.K_rows),
                                 progress=lambda s: status.update(s))
        status.update("writing outputs")
        studio.save(result, out, overwrite=overwrite, run_info={"seed": seed, "image": str(image)}, rig=not no_rig)
    if not quiet:
        n = len(result.views.cameras)
        print(f"{n} {result.subject.mode} views of {image} in {time.perf_counter() - start:.1f} s -> {out}")


def _generate_batch(source: Path, out: Path, quiet: bool, lifter: str | Path, **settings) -> None:
    """`generate PHOTOS_DIR|LIST.txt`: every photo into out/<name>/ (humanmv.pipelines.batch);
    exit code 0 when every photo is ok or skipped, 3 when one failed (see out/summary.json)."""
    from humanmv.pipelines.batch import GenerateSettings, run_batch

    def load_studio():
        from humanmv.studio import Studio

        return Studio(texture_size=settings["texture_size"], pose_lifter=lifter)

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
