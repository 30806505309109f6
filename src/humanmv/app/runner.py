"""One job of the demo page: an uploaded photo -> the shared Studio -> a job folder holding
everything `humanmv generate` writes, plus its zip. No gradio here: the server maps `progress`
to the page's progress bar; tests call `run_job` directly."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from humanmv.app.archive import zip_folder
from humanmv.app.clips import glb_clip_names
from humanmv.app.fit_cache import FitCache, photo_key
from humanmv.app.uploads import load_upload

OUR_STAGES = ("write outputs", "zip")


@dataclass
class JobSettings:
    """What the page lets a user choose (the rest are the generator's defaults)."""

    mode: str = "auto"
    generator: str = "prior"
    views: int = 16
    size: int = 256
    seed: int = 0


@dataclass
class JobResult:
    """folder: the job folder. out: its outputs (views/, turntable.mp4, avatar.glb, ...).
    archive: the zip of `out`. views: the view PNGs in camera order. clips: avatar.glb's
    animation clips. mode: body or head. seconds: the whole job; timings: seconds per stage.
    fit_reused: the photo's fit came from the fit cache."""

    folder: Path
    out: Path
    archive: Path
    views: list[Path]
    clips: list[str]
    mode: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    fit_reused: bool = False

    @property
    def video(self) -> Path:
        return self.out / "turntable.mp4"

    @property
    def glb(self) -> Path:
        return self.out / "avatar.glb"


def stage_names(choice) -> list[str]:
    """The stages a job reports, in order: the Studio's (as `Studio.generate` names them for
    `choice`), then writing the outputs and the zip."""
    return (["perceive and fit", "texture", f"generate ({choice.name})"]
            + [f"refine ({name})" for name in choice.refine]
            + [f"reconstruct ({choice.reconstruct})", *OUR_STAGES])


def archive_name(photo: Path) -> str:
    """`humanmv-<photo stem>` with anything but letters, digits, `-` and `_` made `_`."""
    return "humanmv-" + (re.sub(r"[^A-Za-z0-9_-]", "_", photo.stem) or "photo")


def run_job(studio, photo_path: str | Path, settings: JobSettings, folder: Path,
            fits: FitCache | None = None,
            progress: Callable[[float, str], None] | None = None) -> JobResult:
    """Run one generation into `folder` (an empty job folder) and return what the page shows.

    studio: the server's one `humanmv.studio.Studio`. photo_path: the upload (checked by
    `load_upload`; its errors and the Studio's are `HumanMVError`s with one-line messages).
    progress(fraction, stage): called as each stage starts, fraction in [0, 1).
    """
    from humanmv.generators import GeneratorChoice

    start = time.perf_counter()
    photo_path = Path(photo_path)
    photo = load_upload(photo_path)
    choice = GeneratorChoice.make(settings.generator)
    stages = stage_names(choice)
    timings: dict[str, float] = {}
    current: list = [None, start]

    def step(stage: str | None) -> None:
        now = time.perf_counter()
        if current[0] is not None:
            timings[current[0]] = now - current[1]
        current[:] = [stage, now]
        if progress is not None and stage is not None:
            done = stages.index(stage) if stage in stages else len(timings)
            progress(min(done / len(stages), 0.99), stage)

    key = photo_key(photo_path, settings.mode, settings.seed)
    cached = fits.get(key) if fits is not None else None
    result = studio.generate(photo, choice, mode=settings.mode, views=settings.views, size=settings.size,
                             seed=settings.seed, photo_fit=cached, progress=step)
    if fits is not None and cached is None:
        fits.put(key, result.fit)
    step("write outputs")
    out = studio.save(result, folder / "out",
                      run_info={"seed": settings.seed, "image": photo_path.name, "app": True})
    step("zip")
    name = archive_name(photo_path)
    archive = zip_folder(out, folder / f"{name}.zip", name)
    step(None)
    views = [out / "views" / f"{n}.png" for n in result.views.cameras.names]
    return JobResult(folder, out, archive, views, glb_clip_names(out / "avatar.glb"), result.subject.mode,
                     time.perf_counter() - start, timings, cached is not None)
