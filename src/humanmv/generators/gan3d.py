"""The "gan3d" generator (seed 002): 3DHumanGAN inverted to the photo, then drawn at every view.

1. The fit gives the body's pose and shape (`subject.body_params`) and the photo camera; the
   photo and its person mask are cut to the GAN's portrait (`data.gan3d_views.portrait_box`,
   the training framing) with the camera cut the same way, so the posed body lands on the person.
2. Inversion: the appearance code w (from the generator's mean w_avg) is optimised so that the
   GAN's image at the photo camera matches the photo: L1 inside the person mask, an L1 on the
   mask itself, and `perceptual` x ST-LPIPS (AlexNet) between both composited on white. With
   `finetune_steps` > 0 the generator's weights are then tuned briefly at that w (pivotal tuning,
   Roich et al. 2021) on a copy, so the shipped model is never changed.
3. Every target view: the body's silhouette there gives the view's portrait box; the GAN draws
   the person at that cropped camera and the image is resampled back into the view.
The views come back with rgb and mask (normals and depth come from the avatar); they are
deterministic (no seed). views.meta["inversion"] records the photo-view PSNR inside the mask
and the loss before and after.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from humanmv.errors import ConfigError
from humanmv.generators.base import GeneratorContext
from humanmv.generators.registry import GeneratorSpec, register_generator
from humanmv.options import option
from humanmv.views import Views

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "gan3d-small"
LPIPS_MIN_SIDE = 64


@dataclass
class GAN3DInversionOptions:
    """How the photo is inverted (module docstring)."""

    steps: int = option(150, "latent optimisation steps", minimum=0, maximum=5000)
    lr: float = option(0.03, "Adam learning rate of the latent", minimum=1e-5, maximum=10.0)
    finetune_steps: int = option(0, "steps tuning the generator at the found latent (pivotal tuning)",
                                 minimum=0, maximum=5000)
    finetune_lr: float = option(3e-4, "Adam learning rate of the generator tuning", minimum=1e-6, maximum=1.0)
    perceptual: float = option(1.0, "weight of ST-LPIPS next to the masked L1", minimum=0.0, maximum=100.0)


def inversion_loss(out, target: torch.Tensor, target_mask: torch.Tensor, lpips, perceptual: float) -> torch.Tensor:
    """out: GAN3DOutput of 1 view; target [1, 3, H, W] in [-1, 1] on white; target_mask [1, 1, H, W]."""
    fake = out.on_white()
    inside = (fake - target).abs().mul(target_mask).sum() / (3 * target_mask.sum()).clamp_min(1.0)
    loss = inside + (out.mask - target_mask).abs().mean()
    if lpips is not None and perceptual > 0:
        a, b = (fake + 1) / 2, (target + 1) / 2
        short = min(a.shape[-2:])
        if short < LPIPS_MIN_SIDE:  # AlexNet's strides need room (the tiny test configs)
            scale = -(-LPIPS_MIN_SIDE // short)
            a, b = (F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False) for x in (a, b))
        loss = loss + perceptual * lpips(a, b).mean()
    return loss


class GAN3DInversionGenerator:
    """subject + cameras -> the inverted GAN's views (module docstring)."""

    def __init__(self, context: GeneratorContext, options: GAN3DInversionOptions | None = None,
                 checkpoint: str | Path | None = None) -> None:
        from humanmv.models.gan3d import GAN3DGenerator
        from humanmv.pipelines.gan3d_sampling import GAN3DSampler

        self.options = options or GAN3DInversionOptions()
        network = GAN3DGenerator.from_pretrained(Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT,
                                                 device=context.device)
        self.sampler = GAN3DSampler(network, context.body, context.renderer)
        self.body = context.body
        self.lpips = None
        if self.options.perceptual > 0:
            from humanmv.eval.stlpips_weights import load_stlpips

            self.lpips = load_stlpips("alex").to(context.device).eval().requires_grad_(False)

    @property
    def network(self):
        return self.sampler.generator

    def modules(self) -> dict[str, torch.nn.Module]:
        found = {"generator": self.network}
        if self.lpips is not None:
            found["lpips"] = self.lpips
        return found

    def invert(self, subject, posed):
        """(w [1, Nw], the generator to draw with, the inversion's report)."""
        from humanmv.data.gan3d_views import portrait_box, portrait_crop
        from humanmv.eval.image_metrics import psnr

        o, G = self.options, self.network
        c, device = G.config, next(G.parameters()).device
        # Framed by the photo's person mask (garments and hair included), as the training views.
        box = portrait_box(subject.person_mask, c.image_height, c.image_width)
        camera = subject.photo_camera.cropped([box], c.image_width, c.image_height)
        target, target_mask, _ = portrait_crop(subject.photo, subject.person_mask, box, c.image_height, c.image_width)
        target, target_mask = target[None].to(device), target_mask[None].to(device)
        samples = self.sampler.samples(posed, camera)

        def loss_of(generator, w):
            return inversion_loss(generator.synthesize(w, samples), target, target_mask, self.lpips, o.perceptual)

        t = time.perf_counter()
        w = G.w_avg[None].clone().requires_grad_(True)
        with torch.no_grad():
            start = float(loss_of(G, w))
        opt = torch.optim.Adam([w], lr=o.lr)
        for _ in range(o.steps):
            loss = loss_of(G, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        w = w.detach()
        if o.finetune_steps:
            G = copy.deepcopy(G).eval()  # batch norm keeps its running statistics while tuned
            tune = torch.optim.Adam(G.parameters(), lr=o.finetune_lr)
            for _ in range(o.finetune_steps):
                loss = loss_of(G, w)
                tune.zero_grad(set_to_none=True)
                loss.backward()
                tune.step()
            G.requires_grad_(False)
        with torch.no_grad():
            out = G.synthesize(w, samples)
            end = float(inversion_loss(out, target, target_mask, self.lpips, o.perceptual))
            photo_psnr = float(psnr((out.on_white() + 1) / 2, (target + 1) / 2, target_mask >= 0.5)[0])
        report = {"photo_psnr_in_mask_db": round(photo_psnr, 3), "loss_start": round(start, 5),
                  "loss_end": round(end, 5), "steps": o.steps, "finetune_steps": o.finetune_steps,
                  "seconds": round(time.perf_counter() - t, 3)}
        return w, G, report

    def __call__(self, subject, cameras, seed: int = 0) -> Views:
        from humanmv.models.gan3d import PosedBody
        from humanmv.pipelines.gan3d_sampling import paste_portraits

        if subject.mode != "body" or subject.body_params is None:
            raise ConfigError("--generator gan3d needs a body fit (--mode body); the fit gave no body parameters")
        posed = PosedBody.from_anny(self.body, subject.body_params)
        w, G, report = self.invert(subject, posed)
        crops, boxes = self.sampler.portrait_crops(posed, cameras)
        with torch.no_grad():
            out = G.synthesize(w.expand(len(cameras), -1), self.sampler.samples(posed, crops))
        rgb = ((out.rgb.float().cpu() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
        rgb, mask = paste_portraits(rgb, out.mask.float().cpu()[:, 0], boxes, cameras)
        mask = (mask > 0.5).float()
        return Views(cameras, rgb * mask[..., None], mask, meta={"inversion": report}).clear_outside()


SPEC = register_generator(GeneratorSpec(
    name="gan3d",
    factory=GAN3DInversionGenerator,
    options=GAN3DInversionOptions,
    modes=("body",),
    summary="3DHumanGAN (seed 002) inverted to the photo, drawn at every view, then refit + texture fusion",
    default_checkpoint=DEFAULT_CHECKPOINT,
    reconstruct="refit",
    quick_options={"steps": 3, "finetune_steps": 1},
))
