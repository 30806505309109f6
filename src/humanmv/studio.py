"""`Studio`: humanmv as a library. Loads the shared models once and runs any registered
generator on a photo; safe to call from the threads of a server.

    from humanmv import Studio
    from humanmv.io.images import load_image

    studio = Studio()                                   # Anny, perception, renderer: once
    result = studio.generate(load_image("photo.jpg"), "mvdiff", options={"steps": 10}, views=8)
    studio.save(result, "out/")                         # everything `humanmv generate` writes

`generate` runs the data flow top to bottom: perceive + fit -> project the photo onto the
avatar's texture -> target cameras -> generate -> refine stages -> reconstruct. Generators (and
refine stages) are loaded on first use and kept, so switching between them reloads nothing.
Nothing here forks: perception runs in the calling thread (the CLI computes it in a child
process and passes it in, for start-up speed).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from humanmv.cameras import Cameras
from humanmv.generators.base import GeneratorContext, check_generated
from humanmv.generators.choice import GeneratorChoice
from humanmv.generators.registry import check_mode, fit_mode_for
from humanmv.io.images import LoadedImage
from humanmv.perception import Perception
from humanmv.pipelines.fitting import FitPipeline, PhotoFit
from humanmv.pipelines.checks import check_view_options
from humanmv.pipelines.subject import Subject, make_subject
from humanmv.pipelines.targets import target_cameras
from humanmv.recon.avatar import Avatar
from humanmv.recon.reconstruct import reconstruct_avatar
from humanmv.views import Views


@dataclass
class GenerationResult:
    """fit: the photo's fit. subject: the textured avatar the generator started from.
    views: the output views. avatar: the exported avatar (after reconstruction).
    choice: the generator, its options and stages. texture_source: (S, S) uint8 map of where
    each texel of the subject's texture came from (0 photo, 1 mirror, 2 part, 3 inpaint).
    timings: seconds per stage. notes: what the generator reported about its run (its views'
    meta, e.g. gan3d's inversion fit), written to run.json as "generator_notes"."""

    fit: PhotoFit
    subject: Subject
    views: Views
    avatar: Avatar
    choice: GeneratorChoice
    texture_source: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


@dataclass
class LoadedStages:
    """A choice's generator and refine stages, built by their specs' factories."""

    generator: Any
    refiners: list[tuple[str, Any]]


class Studio:
    """The loaded models of humanmv and the one way to run a generation.

    device: where the body model and every learned model run ("cpu", "cuda", ...); the stage
        data between them (views, meshes, textures) stays on the CPU.
    texture_size: the avatar's UV texture size in pixels (per call: `generate(texture_size=)`).
    """

    def __init__(self, device: str | torch.device = "cpu", texture_size: int = 1024,
                 pose_lifter: str | Path | None = "shipped") -> None:
        """pose_lifter: the body fit's pose lifter folder ("shipped": humanmv's; None: none)."""
        self.device = torch.device(device)
        self.fitter = FitPipeline(self.device, lifter=pose_lifter)
        self.renderer = self.fitter.renderer
        self.body = self.fitter.body
        self.context = GeneratorContext(self.renderer, self.body, self.device)
        self.texture_size = texture_size
        self._lock = threading.Lock()
        self._texture_builders: dict[int, Any] = {}
        self._stages: dict[tuple, LoadedStages] = {}

    # -- the data flow ----------------------------------------------------------------------
    def generate(self, image: LoadedImage, generator: str | GeneratorChoice = "prior", *,
                 options: dict[str, Any] | None = None, checkpoint: str | Path | None = None,
                 reconstruct: str | None = None, refine: str | list[str] | None = None, mode: str = "auto",
                 views: int = 16, cameras: Cameras | None = None, size: int | None = None,
                 texture_size: int | None = None, seed: int = 0, perception: Perception | None = None,
                 photo_fit: PhotoFit | None = None, focal_mm: float | None = None,
                 K: torch.Tensor | None = None,
                 progress: Callable[[str], None] | None = None) -> GenerationResult:
        """Views all round and the avatar of the person in `image`.

        generator: a registered name (with `options`, `checkpoint`, `reconstruct`, `refine`
            as in `GeneratorChoice.make`) or a ready GeneratorChoice.
        views / size: that many orbit views, size x size pixels (default 512); or `cameras`
            (custom, in the subject's world frame; `size` rescales them).
        perception / photo_fit: given when the caller already computed them for this photo.
        focal_mm / K: the photo's 35-mm-equivalent focal length, or its (3, 3) intrinsics in
            pixels of the upright photo, when known (K wins; both override the photo's EXIF;
            `body.photo_intrinsics`); unused with `photo_fit`.
        progress: called with each stage's name as it starts.
        """
        choice = generator if isinstance(generator, GeneratorChoice) else GeneratorChoice.make(
            generator, options, checkpoint, reconstruct, refine)
        check_view_options(views, cameras, size)
        step = progress or (lambda stage: None)
        timings: dict[str, float] = {}

        mode = fit_mode_for(choice.spec, mode) if photo_fit is None else mode
        if photo_fit is None and mode in ("body", "head"):
            check_mode(choice.spec, mode)  # an explicit mode is refused before any work
        stages = self.load(choice)  # a broken checkpoint fails here, before the fit
        step("perceive and fit")
        if photo_fit is None:
            photo_fit = self.fitter(image, mode=mode, seed=seed, perception=perception,
                                    focal_mm=focal_mm, K=K)
        timings.update(photo_fit.timings)
        check_mode(choice.spec, photo_fit.fit.mode)

        step("texture")
        t = time.perf_counter()
        textured = make_subject(photo_fit, self.texture_builder(texture_size or self.texture_size))
        subject = textured.subject
        cams = target_cameras(subject, views, cameras, size)
        timings["texture"] = time.perf_counter() - t

        step(f"generate ({choice.name})")
        t = time.perf_counter()
        generated = stages.generator(subject, cams, seed=seed)
        check_generated(generated, cams, f"generator {choice.name!r}")
        timings["generate"] = time.perf_counter() - t

        for name, refiner in stages.refiners:
            step(f"refine ({name})")
            t = time.perf_counter()
            generated = refiner(generated, subject, seed=seed)
            check_generated(generated, cams, f"refine stage {name!r}")
            timings[f"refine_{name}"] = time.perf_counter() - t

        step(f"reconstruct ({choice.reconstruct})")
        t = time.perf_counter()
        rec = reconstruct_avatar(generated, subject, choice.reconstruct, choice.reconstruct_options, self.renderer, self.body)
        timings["reconstruct"] = time.perf_counter() - t
        timings.update({f"reconstruct_{k}": v for k, v in (rec.timings or {}).items()})
        return GenerationResult(photo_fit, subject, rec.views, rec.avatar, choice, textured.texture_source, timings,
                                notes=dict(generated.meta))

    def save(self, result: GenerationResult, out: str | Path, overwrite: bool = False,
             run_info: dict | None = None, rig: bool = True) -> Path:
        """Write everything `humanmv generate` writes into `out`, atomically (a failure leaves
        nothing behind); `rig=False` writes a static avatar.glb. Returns the folder."""
        from humanmv.io.atomic import atomic_output_dir
        from humanmv.pipelines.outputs import save_generation

        out = Path(out)
        with atomic_output_dir(out, overwrite=overwrite) as tmp:
            save_generation(result, tmp, self.renderer, self.body, run_info, rig=rig)
        return out

    # -- loaded models ----------------------------------------------------------------------
    def load(self, choice: GeneratorChoice) -> LoadedStages:
        """The choice's generator and refine stages, built on first use and kept."""
        key = choice.key()
        with self._lock:
            if key not in self._stages:
                generator = choice.spec.factory(self.context, choice.options, choice.weights)
                refiners = []
                for name in choice.refine:
                    from humanmv.generators.registry import refiner_spec

                    spec = refiner_spec(name)
                    refiners.append((name, spec.factory(self.context, choice.refine_options[name],
                                                        spec.default_checkpoint)))
                self._stages[key] = LoadedStages(generator, refiners)
            return self._stages[key]

    def texture_builder(self, size: int):
        """The texture stage for `size`-pixel textures (built once per size)."""
        from humanmv.body.avatar_texture import TextureBuilder

        with self._lock:
            if size not in self._texture_builders:
                self._texture_builders[size] = TextureBuilder(self.body, self.renderer, size)
            return self._texture_builders[size]

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every torch module this studio holds, by name (the body and each loaded stage's)."""
        found: dict[str, torch.nn.Module] = {"body": self.body}
        with self._lock:
            loaded = list(self._stages.items())
        for i, (key, stages) in enumerate(loaded):
            for name, module in stages.generator.modules().items():
                found[f"{key[0]}#{i}.{name}"] = module
            for stage, refiner in stages.refiners:
                for name, module in refiner.modules().items():
                    found[f"{stage}#{i}.{name}"] = module
        return found
