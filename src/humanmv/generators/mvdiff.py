"""The "mvdiff" generator (seed 000): the prior's renders refined by the multi-view diffusion model.

1. The prior renders the textured avatar at the targets (coarse RGBA + normals: the geometry
   conditions and the 3D-aware start) and at the photo camera (the reference's conditions);
   the photo itself is the reference.
2. The model (`pipelines.mvdiff.MVDiffPipeline` around `models.MultiViewUNet`) denoises the
   views in groups of `views_per_pass` (the number it was trained with), every group attending
   to the same reference.
3. The views come back as the model drew them (colour and alpha), with the prior's normals and
   depth. Each group starts from its own noise, so views of different groups disagree; the
   reconstruct stage that follows by default ("refit": body refitted to the views' silhouettes,
   views fused into its texture, re-rendered; `recon.reconstruct_avatar`) makes them agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from humanmv.generators.base import GeneratorContext
from humanmv.options import option
from humanmv.generators.prior import PriorGenerator
from humanmv.generators.registry import GeneratorSpec, register_generator
from humanmv.views import Views, channels_last

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "mvdiff-small"


@dataclass
class MVDiffOptions:
    """Sampler settings of mvdiff (defaults chosen on validation subjects,
    `benchmarks/mvdiff_tune.py`)."""

    steps: int = option(20, "denoising steps", minimum=1, maximum=1000)
    guidance_scale: float = option(1.0, "classifier-free guidance on the reference (1 = none)", minimum=0.0)
    strength: float = option(1.0, "how far the coarse views are noised before denoising (1 = pure noise)",
                             minimum=0.001, maximum=1.0)
    scheduler: str = option("ddim", "sampler", choices=("ddim", "dpm"))
    detail: float = option(0.5, "share of the prior's detail above the model's resolution added back",
                           minimum=0.0, maximum=1.0)
    views_per_pass: int = option(8, "views denoised jointly (the shipped model was trained on 6-8)",
                                 minimum=1, maximum=64)


@dataclass
class ModelWindow:
    """The square of a view the model works in: `side` pixels with its top-left corner at
    (x0, y0) in the view (it may reach past the view; that part is background)."""

    x0: int
    y0: int
    side: int
    width: int
    height: int

    def cut(self, image: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """(K, H', W') canvas image -> (K, side, side): the window, `fill` (K,) outside the view."""
        out = fill.view(-1, 1, 1).to(image).expand(image.shape[0], self.side, self.side).clone()
        xs, ys = max(0, self.x0), max(0, self.y0)
        xe, ye = min(self.width, self.x0 + self.side), min(self.height, self.y0 + self.side)
        out[:, ys - self.y0:ye - self.y0, xs - self.x0:xe - self.x0] = image[:, ys:ye, xs:xe]
        return out

    def paste(self, window: torch.Tensor, canvas: torch.Tensor) -> None:
        """Write a (K, side, side) window into the (K, H', W') canvas image, inside the view only."""
        xs, ys = max(0, self.x0), max(0, self.y0)
        xe, ye = min(self.width, self.x0 + self.side), min(self.height, self.y0 + self.side)
        canvas[:, ys:ye, xs:xe] = window[:, ys - self.y0:ye - self.y0, xs - self.x0:xe - self.x0]


def model_window(mask: torch.Tensor, width: int, height: int) -> ModelWindow:
    """Where the model looks in a view of `width` x `height` (mask: (H', W') canvas, the prior's
    person): a square of the view's shorter side (a square view: the whole view), centred on
    the person and kept inside the view, grown to the person's longer side when that is larger.
    The model was trained on views framing the whole person in a square; a taller or wider
    view frames the person in its shorter side, so this window shows the model that framing
    (padding the whole view to a square would shrink the person and the model would redraw it
    at its trained scale)."""
    ys, xs = torch.nonzero(mask[:height, :width] > 0.5, as_tuple=True)
    short = min(width, height)
    if len(xs) == 0:
        side, cx, cy = short, width / 2, height / 2
    else:
        x_lo, x_hi, y_lo, y_hi = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        side = max(short, x_hi - x_lo, y_hi - y_lo)
        cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2

    def corner(centre: float, extent: int) -> int:
        if side >= extent:  # the window covers the view along this axis: centre the view in it
            return -((side - extent) // 2)
        return min(max(0, math.floor(centre - side / 2)), extent - side)

    return ModelWindow(corner(cx, width), corner(cy, height), side, width, height)


class MVDiffGenerator:
    """subject + cameras -> the model's views (see the module docstring)."""

    def __init__(self, context: GeneratorContext, options: MVDiffOptions | None = None,
                 checkpoint: str | Path | None = None) -> None:
        from humanmv.pipelines.mvdiff import MVDiffPipeline

        self.options = options or MVDiffOptions()
        self.pipe = MVDiffPipeline.from_pretrained(Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT)
        self.pipe.model.to(context.device)
        if self.pipe.vae is not None:
            self.pipe.vae.to(context.device)
        self.renderer = context.renderer
        self.prior = PriorGenerator(context)

    def modules(self) -> dict[str, torch.nn.Module]:
        found = {"unet": self.pipe.model}
        if self.pipe.vae is not None:
            found["vae"] = self.pipe.vae
        return found

    def __call__(self, subject, cameras, seed: int = 0) -> Views:
        coarse = self.prior(subject, cameras, seed)
        seen = self.renderer.render(subject.avatar, subject.photo_camera, outputs=("mask", "rgb", "normal"))
        return self.generate_raw(coarse, subject.photo, subject.person_mask, (seen.rgb[0], seen.mask[0], seen.normal[0]),
                                 subject.photo_camera.world_to_cam[0], seed)

    def generate_raw(self, coarse: Views, photo: torch.Tensor, person_mask: torch.Tensor, photo_view,
                     input_w2c: torch.Tensor, seed: int = 0) -> Views:
        """The model's views at coarse's cameras. coarse: the prior's views there (rgb, mask,
        normal, depth); photo (H, W, 3) and person_mask (H, W): the input; photo_view: the
        prior's render at the photo camera (rgb (H, W, 3), mask (H, W), normal (H, W, 3));
        input_w2c (4, 4). Returns Views with the model's rgb and mask and the prior's normal
        and depth."""
        from humanmv.models.camera import camera_features
        from humanmv.models.inputs import REFERENCE_FILL, reference_inputs, view_tensors

        o = self.options
        size = self.pipe.config.sample_size
        reference, reference_conditions = reference_inputs(photo, person_mask, photo_view[0], photo_view[1],
                                                           photo_view[2], size)
        conditions = view_tensors(coarse.rgb, coarse.mask, coarse.normal)  # (C, 7, H, W) on the canvas
        camera = camera_features(coarse.cameras.world_to_cam, input_w2c)
        windows = [model_window(coarse.mask[i], *coarse.cameras.sizes[i].tolist()) for i in range(len(coarse))]
        generator = torch.Generator().manual_seed(seed)
        out = torch.zeros(len(coarse), 4, *conditions.shape[-2:])
        # Views whose windows share a side are denoised together, `views_per_pass` at a time.
        for side in sorted({w.side for w in windows}, reverse=True):
            group = [i for i, w in enumerate(windows) if w.side == side]
            cond = torch.stack([windows[i].cut(conditions[i], REFERENCE_FILL) for i in group])
            for start in range(0, len(group), o.views_per_pass):
                part = group[start:start + o.views_per_pass]
                rows = slice(start, start + len(part))
                made = self.pipe(reference, reference_conditions, cond[rows, :4], cond[rows, 4:], camera[part],
                                 num_inference_steps=o.steps, scheduler=o.scheduler,
                                 guidance_scale=o.guidance_scale, strength=o.strength, detail=o.detail,
                                 generator=generator)
                for i, view in zip(part, made):
                    windows[i].paste(view, out[i])
        views = channels_last(out)
        mask = (views[..., 3] > 0.5).float()
        raw = Views(coarse.cameras, views[..., :3] * mask[..., None], mask, coarse.normal, coarse.depth)
        return raw.clear_outside()


SPEC = register_generator(GeneratorSpec(
    name="mvdiff",
    factory=MVDiffGenerator,
    options=MVDiffOptions,
    modes=("body",),
    summary="multi-view diffusion on the prior's renders (seed 000), then refit + texture fusion",
    default_checkpoint=DEFAULT_CHECKPOINT,
    reconstruct="refit",
    stochastic=True,
    quick_options={"steps": 2},
))
