"""MVDiffPipeline: the prior's coarse views -> refined, consistent views (seed 000's generator).

    pipe = MVDiffPipeline.from_pretrained("checkpoints/mvdiff-small")
    views = pipe(reference, reference_conditions, coarse, normal, camera,
                 num_inference_steps=20, scheduler="ddim", guidance_scale=1.5, strength=0.7,
                 generator=torch.Generator().manual_seed(0))      # (N, 4, H, W) in [0, 1]

Inputs (float32, [0, 1], any H x W, resized here to the model's size):
    reference (4, H', W'): the input photo's RGBA (RGB on white + person mask), cropped around
        the person (`models.inputs.reference_inputs`);
    reference_conditions (7, H', W'): the prior's render at the same crop: coarse RGBA + normal01;
    coarse (N, 4, H, W): the prior's coarse RGBA at the N target cameras;
    normal (N, 3, H, W): the prior's camera-space normals, (n + 1) / 2, white outside the mask;
    camera (N, 12): camera_features(target_w2c, input_w2c).

`__call__` reads top to bottom: check -> resize -> (encode, latent configs) -> 3D-aware start
-> denoise with classifier-free guidance on the reference -> (decode) -> compose at full size.
Pixel configs compose out = up(x0) + detail * (coarse - up(down(coarse))): the model's views at
its size, plus (`detail` > 0) the prior's render's band above it. Latent configs decode with the VAE and
take the alpha from the coarse views (the VAE has no alpha channel).

Folder layout: model/ (MultiViewUNet.save_pretrained), scheduler_config.json, and vae/ (a
diffusers AutoencoderKL folder) for latent configs.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler

from humanmv.errors import CheckpointError, ConfigError
from humanmv.io.atomic import atomic_output_dir
from humanmv.models.mv_unet import MultiViewUNet
from humanmv.recon import FusionConfig, RefitConfig

SCHEDULER_FILE = "scheduler_config.json"
SCHEDULERS = {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, *size); antialiased so downsampling averages instead of aliasing."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


class MVDiffPipeline:
    """The mvdiff sampler around a MultiViewUNet (+ an AutoencoderKL for latent configs)."""

    def __init__(self, model: MultiViewUNet, scheduler_config: dict | None = None, vae: AutoencoderKL | None = None):
        self.model = model.eval()
        self.config = model.config
        self.scheduler_config = dict(scheduler_config or self.default_scheduler_config(model.config))
        self.vae = vae.eval() if vae is not None else None
        if self.config.space == "latent":
            if vae is None:
                raise ConfigError(f"mvdiff config {self.config.name!r} works in latent space: pass a vae")
            lat = vae.config.latent_channels
            if self.config.image_channels != lat or self.config.condition_channels != 2 * lat:
                raise ConfigError(
                    f"mvdiff config {self.config.name!r} needs image_channels = {lat} and condition_channels = "
                    f"{2 * lat} for this VAE ({lat} latent channels)"
                )

    @staticmethod
    def default_scheduler_config(config) -> dict:
        # "trailing" spacing makes the first step t = T - 1, so strength=1 really starts from noise.
        return {**config.scheduler_kwargs(), "timestep_spacing": "trailing"}

    # -- folders ---------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        folder = Path(folder)
        with atomic_output_dir(folder, overwrite=True) as tmp:
            self.model.save_pretrained(tmp / "model")
            (tmp / SCHEDULER_FILE).write_text(json.dumps(self.scheduler_config, indent=2) + "\n")
            if self.vae is not None:
                self.vae.save_pretrained(tmp / "vae")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> "MVDiffPipeline":
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: pipeline folder not found; pass a folder written by save_pretrained")
        model = MultiViewUNet.from_pretrained(folder / "model")
        path = folder / SCHEDULER_FILE
        scheduler_config = None
        if path.is_file():
            try:
                scheduler_config = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CheckpointError(f"{path}: not valid JSON ({exc}); re-save the pipeline") from exc
        vae = None
        if (folder / "vae").is_dir():
            try:
                vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True)
            except (OSError, ValueError, EnvironmentError) as exc:
                raise CheckpointError(f"{folder / 'vae'}: cannot load the VAE ({exc})") from exc
        elif model.config.space == "latent":
            raise CheckpointError(f"{folder / 'vae'}: missing; latent config {model.config.name!r} needs a VAE folder")
        return cls(model, scheduler_config, vae)

    def make_scheduler(self, kind: str):
        """A fresh DDIM or DPM-Solver++ scheduler on the model's noise schedule."""
        if kind not in SCHEDULERS:
            raise ConfigError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {kind!r}")
        cls = SCHEDULERS[kind]
        accepted = set(inspect.signature(cls.__init__).parameters)
        kwargs = {k: v for k, v in self.scheduler_config.items() if k in accepted}  # quiet: no unused keys
        if kind == "dpm":
            kwargs.update(algorithm_type="dpmsolver++", solver_order=2)
        return cls(**kwargs)

    # -- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        reference: torch.Tensor,
        reference_conditions: torch.Tensor,
        coarse: torch.Tensor,
        normal: torch.Tensor,
        camera: torch.Tensor,
        num_inference_steps: int = 20,
        scheduler: str = "ddim",
        guidance_scale: float = 1.5,
        strength: float = 0.7,
        detail: float = 0.0,
        generator: torch.Generator | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Returns (N, 4, H, W) float32 in [0, 1] at the inputs' size. Same generator seed,
        same output. `callback(step, total)` is called after each denoising step."""
        # 1. check the inputs and options
        n, height, width = self._check_inputs(reference, reference_conditions, coarse, normal, camera)
        if num_inference_steps < 1 or not 0.0 < strength <= 1.0 or guidance_scale < 0 or not 0 <= detail <= 1:
            raise ConfigError("need num_inference_steps >= 1, 0 < strength <= 1, guidance_scale >= 0 and "
                              f"0 <= detail <= 1, got {num_inference_steps}, {strength}, {guidance_scale}, {detail}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        sched = self.make_scheduler(scheduler)
        device = next(self.model.parameters()).device

        # 2. resize to the model's image size and move to model space
        size = self._image_size()
        ref = _resize(reference[None].float(), size).to(device)
        ref_cond = _resize(reference_conditions[None].float(), size).to(device)
        coarse_s = _resize(coarse.float(), size).to(device)
        normal_s = _resize(normal.float(), size).to(device)
        if self.config.space == "pixel":
            x_coarse = coarse_s * 2 - 1  # (N, 4, h, w)
            conditions = torch.cat([coarse_s, normal_s], dim=1)
        else:
            x_coarse = self._encode(coarse_s[:, :3])
            conditions = torch.cat([x_coarse, self._encode(normal_s)], dim=1)
            ref = self._encode(ref[:, :3])
            ref_cond = torch.cat([self._encode(ref_cond[:, :3]), self._encode(ref_cond[:, 4:7])], dim=1)

        # 3. the 3D-aware start: the coarse views noised to t = strength * T (img2img's trimming)
        sched.set_timesteps(num_inference_steps, device=device)
        init_steps = min(int(num_inference_steps * strength), num_inference_steps)
        t_start = num_inference_steps - init_steps
        timesteps = sched.timesteps[t_start * sched.order:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(t_start * sched.order)
        noise = torch.randn(x_coarse.shape, generator=generator).to(device)
        if strength >= 1.0:
            x = noise * sched.init_noise_sigma
        elif len(timesteps):
            x = sched.add_noise(x_coarse, noise, timesteps[:1])
        else:
            x = x_coarse  # strength too small for one step: nothing to denoise

        # 4. denoise; classifier-free guidance batches [with reference, without reference]
        guided = guidance_scale != 1.0
        drop = torch.tensor([False, True]) if guided else torch.tensor([False])
        s = len(drop)
        state = self.model.encode_reference(ref.expand(s, -1, -1, -1), ref_cond.expand(s, -1, -1, -1), drop)
        cond = conditions[None].expand(s, -1, -1, -1, -1)
        cams = camera.float().to(device)[None].expand(s, -1, -1)
        for i, t in enumerate(timesteps):
            pred = self.model(x[None].expand(s, -1, -1, -1, -1), t.expand(s), cond, cams, reference_state=state)
            pred = pred[1] + guidance_scale * (pred[0] - pred[1]) if guided else pred[0]
            x = sched.step(pred, t, x, generator=generator).prev_sample
            if callback is not None:
                callback(i + 1, len(timesteps))

        # 5. back to images and compose at the requested size
        if self.config.space == "pixel":
            x0 = ((x + 1) / 2).clamp(0, 1)
            full = coarse.float().to(device)
            out = _resize(x0, (height, width)) + detail * (full - _resize(coarse_s, (height, width)))
        else:
            rgb = self._decode(x)  # (N, 3, 8h, 8w) in [0, 1]
            coarse_rgb = coarse[:, :3].float().to(device)
            rgb = coarse_rgb + _resize(rgb - _resize(coarse_rgb, rgb.shape[-2:]), (height, width))
            out = torch.cat([rgb, coarse[:, 3:4].float().to(device)], dim=1)
        assert out.shape == (n, 4, height, width)
        return out.clamp(0, 1).cpu()

    # -- helpers ---------------------------------------------------------------------------
    def _image_size(self) -> tuple[int, int]:
        side = self.config.sample_size
        if self.config.space == "latent":
            side *= 2 ** (len(self.vae.config.block_out_channels) - 1)
        return side, side

    def _encode(self, rgb01: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> scaled latents; the distribution's mode, so no randomness."""
        latent = self.vae.encode(rgb01 * 2 - 1).latent_dist.mode()
        return latent * self.vae.config.scaling_factor

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        image = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        return ((image + 1) / 2).clamp(0, 1)

    @staticmethod
    def _check_inputs(reference, reference_conditions, coarse, normal, camera) -> tuple[int, int, int]:
        """ConfigError naming the first argument with a wrong shape. Returns (N, H, W)."""
        if coarse.ndim != 4 or coarse.shape[1] != 4:
            raise ConfigError(f"coarse must have shape (N, 4, H, W), got {tuple(coarse.shape)}")
        n, _, h, w = coarse.shape
        if reference.ndim != 3 or reference.shape[0] != 4:
            raise ConfigError(f"reference must have shape (4, H', W'), got {tuple(reference.shape)}")
        rh, rw = reference.shape[1:]
        expected = {  # name: (tensor, shape, shape as the user should read it)
            "reference_conditions": (reference_conditions, (7, rh, rw), "(7, H', W') like reference"),
            "normal": (normal, (n, 3, h, w), "(N, 3, H, W)"),
            "camera": (camera, (n, 12), "(N, 12)"),
        }
        for name, (x, shape, shown) in expected.items():
            if tuple(x.shape) != shape:
                raise ConfigError(f"{name} must have shape {shown} with N={n}, H={h}, W={w} (from coarse), "
                                  f"got {tuple(x.shape)}")
        return n, h, w


# -- the "mvdiff" generator: Subject + cameras -> GeneratedViews --------------------------------

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "mvdiff-small"
VIEWS_PER_PASS = 8  # views denoised jointly; the shipped model was trained on 6-8 at a time


class MVDiffGenerator:
    """"mvdiff": the prior's renders refined by the multi-view diffusion model, then fused.

    1. The prior renders the textured avatar at the targets (coarse RGBA + normals: the geometry
       conditions and the 3D-aware start) and at the photo camera (the reference's conditions);
       the photo itself is the reference.
    2. The model denoises the views in groups of `views_per_pass` (the number it was trained
       with), every group attending to the same reference.
    3. `fuse` (default), seed 000's "views -> 3D" step:
       a. `refit` (when a body model is given and the subject carries its fit): the body's
          pose, shape and placement are refitted to the silhouettes the model drew in every
          view, with the photo's keypoints and mask holding it (`recon.refit_body_to_views`);
       b. the generated views and the photo (`photo_trust` times a generated view's weight)
          are fused into the avatar's UV texture (`recon.fuse_views_into_texture`);
       c. the views are rendered from that avatar, so they agree from view to view by
          construction (the raw 2D views do not: each group starts from its own noise).
       The new avatar comes back with the views (and is exported as avatar.glb), with its
       normals and depth. With `fuse=False` the raw views come back, with the prior's normals
       and depth (the model generates colour and alpha).
    """

    name = "mvdiff"

    def __init__(self, renderer, checkpoint: str | os.PathLike[str] | None = None, steps: int = 20,
                 guidance_scale: float = 1.0, strength: float = 1.0, scheduler: str = "ddim", detail: float = 0.5,
                 views_per_pass: int | None = None, fuse: bool = True, photo_trust: float = 16.0,
                 fusion: FusionConfig | None = None, body=None, refit: bool = True,
                 refit_config: RefitConfig | None = None) -> None:
        from humanmv.pipelines.generator import PriorGenerator

        folder = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        self.pipe = MVDiffPipeline.from_pretrained(folder)
        self.renderer, self.prior = renderer, PriorGenerator(renderer)
        self.steps, self.guidance_scale, self.strength, self.scheduler = steps, guidance_scale, strength, scheduler
        self.detail = detail
        self.views_per_pass = views_per_pass or VIEWS_PER_PASS
        self.fuse, self.photo_trust, self.fusion = fuse, photo_trust, fusion or FusionConfig()
        self.body, self.refit, self.refit_config = body, refit, refit_config or RefitConfig()

    def generate_raw(self, coarse, photo: torch.Tensor, person_mask: torch.Tensor, photo_view,
                     input_w2c: torch.Tensor, seed: int = 0):
        """The model's views, before fusion. coarse: GeneratedViews of the prior at the
        targets; photo (H, W, 3) and person_mask (H, W): the input; photo_view: the prior's
        render at the photo camera (rgb, mask, normal (H, W[, 3])); input_w2c (4, 4). Returns
        GeneratedViews (the model's masks, the prior's normals and depth)."""
        from humanmv.models.inputs import REFERENCE_FILL, reference_inputs, view_tensors
        from humanmv.models.camera import camera_features
        from humanmv.pipelines.generator import GeneratedViews

        size = self.pipe.config.sample_size
        reference, reference_conditions = reference_inputs(photo, person_mask, photo_view[0], photo_view[1],
                                                           photo_view[2], size)
        conditions = view_tensors(coarse.rgb, coarse.mask, coarse.normal)
        # The model is square: pad non-square views (e.g. at a photo's camera) with background
        # instead of stretching them, and crop the result back.
        H, W = conditions.shape[-2:]
        side = max(H, W)
        top, left = (side - H) // 2, (side - W) // 2
        if H != W:
            padded = REFERENCE_FILL.view(1, 7, 1, 1).expand(len(conditions), 7, side, side).clone()
            padded[..., top:top + H, left:left + W] = conditions
            conditions = padded
        camera = camera_features(coarse.cameras.world_to_cam, input_w2c)
        generator = torch.Generator().manual_seed(seed)
        out = []
        for start in range(0, len(conditions), self.views_per_pass):
            part = slice(start, start + self.views_per_pass)
            out.append(self.pipe(reference, reference_conditions, conditions[part, :4], conditions[part, 4:],
                                 camera[part], num_inference_steps=self.steps, scheduler=self.scheduler,
                                 guidance_scale=self.guidance_scale, strength=self.strength, detail=self.detail,
                                 generator=generator))
        views = torch.cat(out)[..., top:top + H, left:left + W].permute(0, 2, 3, 1)
        mask = (views[..., 3] > 0.5).float()
        return GeneratedViews(coarse.cameras, views[..., :3] * mask[..., None], mask, coarse.normal, coarse.depth)

    def refit_avatar(self, raw, subject):
        """The subject's avatar with the body refitted to raw's silhouettes
        (`recon.refit_body_to_views`); the avatar as it is when refitting is off or impossible
        (no body model given, or the subject carries no fit)."""
        from dataclasses import replace

        from humanmv.recon import refit_body_to_views

        if not (self.refit and self.body is not None and subject.body_params is not None
                and subject.targets is not None):
            return subject.avatar
        refitted = refit_body_to_views(self.body, subject.body_params, subject.photo_camera, subject.targets,
                                       raw.mask, raw.cameras, self.refit_config)
        return replace(subject.avatar, vertices=refitted.vertices)

    def fuse_views(self, raw, subject, avatar=None):
        """Fuse raw views + the photo into the texture of `avatar` (default: `refit_avatar`)
        and re-render it at raw's cameras. Returns GeneratedViews with `avatar` set to the new
        textured mesh."""
        from dataclasses import replace

        from humanmv.pipelines.generator import GeneratedViews
        from humanmv.recon import ViewImages, fuse_views_into_texture

        avatar = self.refit_avatar(raw, subject) if avatar is None else avatar
        groups = [ViewImages(raw.rgb, raw.mask, raw.cameras),
                  ViewImages(subject.photo[None], subject.person_mask[None], subject.photo_camera, self.photo_trust)]
        fused = fuse_views_into_texture(avatar, groups, self.renderer, config=self.fusion)
        avatar = replace(avatar, texture=fused.texture)
        out = self.renderer.render(avatar, raw.cameras, outputs=("mask", "rgb", "normal", "depth"))
        return GeneratedViews(raw.cameras, out.rgb * out.mask[..., None], out.mask, out.normal, out.depth,
                              avatar=avatar)

    def refine(self, coarse, subject, seed: int = 0):
        """The prior's views at the targets (`coarse`) -> the generator's views (see the class)."""
        seen = self.renderer.render(subject.avatar, subject.photo_camera, outputs=("mask", "rgb", "normal"))
        raw = self.generate_raw(coarse, subject.photo, subject.person_mask, (seen.rgb[0], seen.mask[0], seen.normal[0]),
                                subject.photo_camera.world_to_cam[0], seed)
        return self.fuse_views(raw, subject) if self.fuse else raw

    def __call__(self, subject, cameras, seed: int = 0):
        if subject.mode != "body":
            raise ConfigError("--generator mvdiff is trained on full bodies; use --generator prior for a head photo")
        return self.refine(self.prior(subject, cameras, seed=seed), subject, seed)
