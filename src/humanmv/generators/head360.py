"""The "head360" generator (seeds 001 Gen3D-Face and 003 DiffPortrait360): a portrait's head and
shoulders all round, in head mode.

1. The prior renders the textured head-mode avatar at the targets and at a back camera (the
   front-most target turned 180 deg about the head's vertical axis, `cameras.turned_about`): coarse RGBA + normals, the
   geometry conditions and the 3D-aware start (`strength` < 1: denoising starts from the prior's
   renders noised to that strength; 1 = from pure noise).
2. The back-view generator (`back/`) draws the view behind the head from the photo alone (one
   reference stream: the photo at the targets' framing, `models.inputs.framing_box`).
3. The multi-view model (`main/`) denoises the targets in windows of `window` neighbouring views
   in azimuth order (continuous sequences, as it was trained), every window attending to the
   same two reference streams (dual appearance: the photo and the generated back, each with its
   camera). Its view-sequence blocks, when the checkpoint has them, are the view-consistency
   module.
4. The views come back as the model drew them (colour and alpha: hair beyond the bald head
   mesh), with the prior's normals and depth.

Ablation switches (options): back_view=False gives the main model the prior's back render as
its back stream; dual_reference=False gives it the photo alone; view_consistency=False makes
the view-sequence blocks the identity; strength=1 starts from noise.

Checkpoint folder: back/ and main/, each an exported `humanmv train head360` stage
(MVDiffPipeline folder + head360_stage.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from humanmv.cameras import Cameras, azimuths_about, focus_centre, turned_about
from humanmv.errors import CheckpointError
from humanmv.generators.base import GeneratorContext
from humanmv.generators.prior import PriorGenerator
from humanmv.generators.registry import GeneratorSpec, register_generator
from humanmv.options import option
from humanmv.views import Views, channels_last

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "head360-small"


@dataclass
class Head360Options:
    """Sampler settings and module switches of head360 (defaults chosen on validation subjects of
    head-train-haired with `humanmv bench --mode head`; README, head360)."""

    steps: int = option(20, "denoising steps", minimum=1, maximum=1000)
    strength: float = option(0.7, "3D-aware start: how far the prior's renders are noised (1 = pure noise)",
                             minimum=0.001, maximum=1.0)
    guidance_scale: float = option(1.0, "classifier-free guidance on the references (1 = none)", minimum=0.0)
    scheduler: str = option("ddim", "sampler", choices=("ddim", "dpm"))
    detail: float = option(0.5, "share of the prior's detail above the model's resolution added back",
                           minimum=0.0, maximum=1.0)
    window: int = option(6, "neighbouring views denoised jointly (continuous window; trained on 6)", minimum=1, maximum=64)
    back_view: bool = option(True, "draw the back view first (off: the prior's back as the back reference)")
    dual_reference: bool = option(True, "attend to the photo and the back view (off: the photo alone)")
    view_consistency: bool = option(True, "the checkpoint's view-consistency blocks (off: they are the identity)")


def load_stage(folder: Path, stage: str):
    """An MVDiffPipeline from the head360 stage folder `folder` trained as `stage`;
    CheckpointError naming the file otherwise."""
    from humanmv.pipelines.mvdiff import MVDiffPipeline
    from humanmv.train.recipes.head360 import stage_of

    if not folder.is_dir():
        raise CheckpointError(f"{folder}: missing; a head360 checkpoint holds back/ and main/ stage folders "
                              "(`humanmv train head360 --stage back|main`)")
    found = stage_of(folder).get("stage")
    want = ("main", "consistency") if stage == "main" else (stage,)
    if found not in want:
        raise CheckpointError(f"{folder / 'head360_stage.json'}: a {found!r} stage, expected {stage!r}")
    return MVDiffPipeline.from_pretrained(folder)


def switch_off_view_sequence(model) -> None:
    """Make a MultiViewUNet's view-sequence blocks (if any) the identity they start as: their
    output projections zeroed (the ablation without the view-consistency module)."""
    for block in getattr(model, "view_sequence", {}).values():
        torch.nn.init.zeros_(block.to_out.weight)
        torch.nn.init.zeros_(block.to_out.bias)


class Head360Generator:
    """subject + cameras -> the head all round (see the module docstring)."""

    def __init__(self, context: GeneratorContext, options: Head360Options | None = None,
                 checkpoint: str | Path | None = None) -> None:
        folder = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: checkpoint folder not found; pass a head360 folder (back/ + main/)")
        self.options = options or Head360Options()
        self.back = load_stage(folder / "back", "back")
        self.main = load_stage(folder / "main", "main")
        if not self.options.view_consistency:
            switch_off_view_sequence(self.main.model)
        for pipe in (self.back, self.main):
            pipe.model.to(context.device)
        self.renderer = context.renderer
        self.prior = PriorGenerator(context)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"back": self.back.model, "main": self.main.model}

    def __call__(self, subject, cameras: Cameras, seed: int = 0) -> Views:
        from humanmv.generators.mvdiff import model_window  # here: mvdiff's module loads the registry
        from humanmv.models.camera import camera_features, identity_camera
        from humanmv.models.inputs import REFERENCE_FILL, framing_box, reference_inputs, resize_views, view_tensors

        o = self.options
        size = self.main.config.sample_size
        generator = torch.Generator().manual_seed(seed)
        centre = focus_centre(subject.focus)
        photo_w2c = subject.photo_camera.world_to_cam[0]
        azimuth = azimuths_about(cameras.world_to_cam, photo_w2c, centre)
        front = int(azimuth.abs().argmin())
        back_camera = turned_about(cameras[[front]], centre, 180.0 - float(azimuth[front]), "back")

        # 1. the prior at the targets, the back camera and the photo camera
        coarse = self.prior(subject, Cameras.cat([cameras, back_camera]), seed)
        seen = self.renderer.render(subject.avatar, subject.photo_camera, outputs=("mask", "rgb", "normal"))
        box = framing_box(centre, cameras.world_to_cam[front], cameras.K[front], int(cameras.sizes[front, 1]),
                          photo_w2c, subject.photo_camera.K[0])
        photo, photo_cond = reference_inputs(subject.photo, subject.person_mask, seen.rgb[0], seen.mask[0],
                                             seen.normal[0], size, box)
        cond = view_tensors(coarse.rgb, coarse.mask, coarse.normal)           # (C + 1, 7, H', W')
        camera = camera_features(coarse.cameras.world_to_cam, photo_w2c)
        bw, bh = back_camera.sizes[0].tolist()
        whole = (0.0, 0.0, float(max(bw, bh)))

        # 2. the back view from the photo alone
        if o.back_view:
            back = self.back(photo, photo_cond, cond[-1:, :4, :bh, :bw], cond[-1:, 4:, :bh, :bw], camera[-1:],
                             num_inference_steps=o.steps, scheduler=o.scheduler, guidance_scale=o.guidance_scale,
                             strength=o.strength, detail=o.detail, generator=generator)[0]
            back_rgb, back_mask = back[:3].permute(1, 2, 0), (back[3] > 0.5).float()
        else:
            back_rgb, back_mask = coarse.rgb[-1, :bh, :bw], coarse.mask[-1, :bh, :bw]
        refs, ref_cond, ref_cam = [photo], [photo_cond], [identity_camera(1)[0]]
        if o.dual_reference:
            b, b_cond = reference_inputs(back_rgb, back_mask, coarse.rgb[-1, :bh, :bw], coarse.mask[-1, :bh, :bw],
                                         coarse.normal[-1, :bh, :bw], size, whole)
            refs.append(b)
            ref_cond.append(b_cond)
            ref_cam.append(camera[-1])
        reference, reference_conditions, reference_camera = torch.stack(refs), torch.stack(ref_cond), torch.stack(ref_cam)

        # 3. the targets in windows of neighbouring views, all attending to the same references
        n = len(cameras)
        out = torch.zeros(n, 4, *cond.shape[-2:])
        order = torch.argsort(azimuth).tolist()
        for start in range(0, n, o.window):
            part = order[start:start + o.window]
            windows = [model_window(coarse.mask[i], *cameras.sizes[i].tolist()) for i in part]
            side = max(w.side for w in windows)  # one batch: every window resized to the largest
            c = torch.stack([resize_views(w.cut(cond[i], REFERENCE_FILL)[None], side)[0] for w, i in zip(windows, part)])
            made = self.main(reference, reference_conditions, c[:, :4], c[:, 4:], camera[part],
                             num_inference_steps=o.steps, scheduler=o.scheduler, guidance_scale=o.guidance_scale,
                             strength=o.strength, detail=o.detail, generator=generator,
                             reference_camera=reference_camera)
            for w, i, view in zip(windows, part, made):
                w.paste(resize_views(view[None], w.side)[0], out[i])

        # 4. the model's colour and alpha, the prior's normals and depth
        views = channels_last(out)
        mask = (views[..., 3] > 0.5).float()
        targets = coarse[list(range(n))]
        return Views(cameras, views[..., :3] * mask[..., None], mask, targets.normal, targets.depth).clear_outside()


SPEC = register_generator(GeneratorSpec(
    name="head360",
    factory=Head360Generator,
    options=Head360Options,
    modes=("head",),
    summary="the head all round (seeds 001 + 003): back view, dual reference, continuous windows",
    default_checkpoint=DEFAULT_CHECKPOINT,
    reconstruct="none",
    stochastic=True,
    quick_options={"steps": 2},
))
