"""The built-in pipeline: photo -> fit -> textured avatar -> views at any cameras.

    pipe = PriorPipeline()
    result = pipe(load_image("photo.jpg"), views=16, size=512)
    save_generation(pipe, result, out_dir)

Stages, top to bottom: perceive + fit (`FitPipeline`), project the photo onto the avatar's UV
texture and complete it (`TextureBuilder`), choose the target cameras, run the generator
("prior" renders the textured avatar; learned generators plug in through
`pipelines.generator`). The views are consistent by construction: one textured mesh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from humanmv.body.avatar_texture import TextureBuilder
from humanmv.body.fitting import FitTargets
from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.io.images import LoadedImage
from humanmv.perception import Perception
from humanmv.pipelines.fitting import FitPipeline, PhotoFit
from humanmv.pipelines.generator import (GeneratedViews, PriorGenerator, Subject, make_generator,
                                         register_generator)
from humanmv.pipelines.options import check_view_options
from humanmv.render import Renderer

DEFAULT_SIZE = 512
# Framing of the orbit views: vertical field of view and elevation (degrees).
VIEW_FOV = {"body": 30.0, "head": 25.0}


register_generator("prior", lambda renderer, **_: PriorGenerator(renderer))


def _mvdiff(renderer: Renderer, body=None, **options):
    # Imported on demand: diffusers costs ~1 s to import and the prior does not need it.
    from humanmv.pipelines.mvdiff import MVDiffGenerator

    return MVDiffGenerator(renderer, body=body, **options)


register_generator("mvdiff", _mvdiff)


@dataclass
class GenerationResult:
    """fit: the photo's fit. subject: the textured avatar. views: the generated views.
    texture_source: (S, S) uint8 map of where each texel came from (0 photo, 1 mirror,
    2 part, 3 inpaint). timings: seconds per stage."""

    fit: PhotoFit
    subject: Subject
    views: GeneratedViews
    texture_source: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)


class PriorPipeline:
    """photo -> GenerationResult. Build once: loads Anny, perception, renderer, texture caches."""

    def __init__(self, device: str = "cpu", texture_size: int = 1024, generator: str = "prior",
                 generator_options: dict | None = None) -> None:
        self.fitter = FitPipeline(device)
        self.renderer = self.fitter.renderer
        self.texture_builder = TextureBuilder(self.fitter.body, self.renderer, texture_size)
        self.generator = make_generator(generator, renderer=self.renderer, body=self.fitter.body,
                                        **(generator_options or {}))

    @property
    def body(self):
        return self.fitter.body

    def __call__(self, image: LoadedImage, mode: str = "auto", views: int = 16,
                 cameras: Cameras | None = None, size: int | None = None, seed: int = 0,
                 perception: Perception | None = None,
                 progress: Callable[[str], None] | None = None,
                 photo_fit: PhotoFit | None = None) -> GenerationResult:
        """Fit, texture and render. Give either `views` (an orbit of that many views framing
        the body or head, `size` pixels square, default 512) or `cameras` (custom cameras in
        the subject's world frame; `size` rescales them to size x size when given)."""
        check_view_options(views, cameras, size)
        step = progress or (lambda stage: None)
        timings: dict[str, float] = {}
        step("perceive and fit")
        t = time.perf_counter()
        if photo_fit is None:  # given when the caller already fitted this photo
            photo_fit = self.fitter(image, mode=mode, seed=seed, perception=perception)
        timings.update(photo_fit.timings)

        step("texture")
        t = time.perf_counter()
        photo = torch.from_numpy(image.rgb.copy()).float() / 255
        person = torch.from_numpy(photo_fit.perception.mask).float()
        fit = photo_fit.fit
        textured = self.texture_builder.build(photo, person, fit.vertices, fit.camera)
        avatar = self.body.mesh(fit.vertices, texture=textured.texture)
        focus = fit.vertices[self.body.head_vertex_mask()] if fit.mode == "head" else fit.vertices
        perceived = photo_fit.perception
        targets = FitTargets(photo.shape[1], photo.shape[0], perceived.coco_xy, perceived.coco_confidence,
                             perceived.mask)
        subject = Subject(photo, person, fit.mode, avatar, fit.camera, focus, fit.params, targets)
        timings["texture"] = time.perf_counter() - t

        step("render views")
        t = time.perf_counter()
        if cameras is None:
            cameras = orbit_views(focus, views, size or DEFAULT_SIZE, fit.mode)
        elif size is not None and (cameras.width, cameras.height) != (size, size):
            cameras = cameras.resized(size, size)
        generated = self.generator(subject, cameras, seed=seed)
        timings["generate"] = time.perf_counter() - t
        return GenerationResult(photo_fit, subject, generated, textured.filled_from, timings)


def orbit_views(focus: torch.Tensor, n: int, size: int, mode: str) -> Cameras:
    """`n` views evenly spaced in azimuth from the front (az = 0, 360/n, ...), elevation 0,
    framing the `focus` points (N, 3)."""
    return orbit_cameras_around(focus, ring_azimuths(n), 0.0, fov_deg=VIEW_FOV[mode], width=size, height=size,
                                margin=1.05)
