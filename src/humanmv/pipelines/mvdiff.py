"""MVDiffPipeline: the prior's coarse views -> refined, consistent views (seed 000's generator).

    pipe = MVDiffPipeline.from_pretrained("checkpoints/mvdiff-small")
    views = pipe(reference, reference_conditions, coarse, normal, camera,
                 num_inference_steps=20, scheduler="ddim", guidance_scale=1.5, strength=0.7,
                 generator=torch.Generator().manual_seed(0))      # (N, 4, H, W) in [0, 1]

Inputs (float32, [0, 1], any H x W, resized here to the model's size):
    reference (4, H', W'): the input photo's RGBA (RGB on white + person mask), cropped around
        the person (`models.inputs.reference_inputs`); or (R, 4, H', W'): R reference streams
        (e.g. a front and a back reference), all attended to by every view;
    reference_conditions (7, H', W') (or (R, 7, H', W')): the prior's render at the same crop:
        coarse RGBA + normal01;
    coarse (N, 4, H, W): the prior's coarse RGBA at the N target cameras;
    normal (N, 3, H, W): the prior's camera-space normals, (n + 1) / 2, white outside the mask;
    camera (N, 12): camera_features(target_w2c, input_w2c).
Optional streams:
    reference_camera (R, 12): camera_features of each reference's camera relative to the
        photo's; default: the photo's camera itself for every stream;
    extra_tokens (T, cross_attention_dim): more tokens for the cross-attention (e.g. a face
        stage's identity and 3D-shape tokens), dropped with the reference in the unguided branch;
    extra_conditions (N, E, H, W) and reference_extra_conditions (E, H', W') (or (R, E, H', W')):
        E more condition maps after coarse + normal, for a model with condition_channels = 7 + E
        (the face stage: its face mask and landmark heatmaps); required exactly when E > 0.

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
        reference_camera: torch.Tensor | None = None,
        extra_tokens: torch.Tensor | None = None,
        extra_conditions: torch.Tensor | None = None,
        reference_extra_conditions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Returns (N, 4, H, W) float32 in [0, 1] at the inputs' size. Same generator seed,
        same output. `callback(step, total)` is called after each denoising step."""
        # 1. check the inputs and options
        n, height, width = self._check_inputs(reference, reference_conditions, coarse, normal, camera,
                                              reference_camera, extra_tokens, extra_conditions,
                                              reference_extra_conditions)
        if num_inference_steps < 1 or not 0.0 < strength <= 1.0 or guidance_scale < 0 or not 0 <= detail <= 1:
            raise ConfigError("need num_inference_steps >= 1, 0 < strength <= 1, guidance_scale >= 0 and "
                              f"0 <= detail <= 1, got {num_inference_steps}, {strength}, {guidance_scale}, {detail}")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        sched = self.make_scheduler(scheduler)
        device = next(self.model.parameters()).device

        # 2. resize to the model's image size and move to model space
        size = self._image_size()
        streams = reference.ndim == 4  # (R, 4, H', W'); else one stream
        ref = _resize((reference if streams else reference[None]).float(), size).to(device)  # (R, 4, h, w)
        ref_cond = _resize((reference_conditions if streams else reference_conditions[None]).float(), size).to(device)
        coarse_s = _resize(coarse.float(), size).to(device)
        normal_s = _resize(normal.float(), size).to(device)
        if self.config.space == "pixel":
            x_coarse = coarse_s * 2 - 1  # (N, 4, h, w)
            conditions = torch.cat([coarse_s, normal_s], dim=1)
            if extra_conditions is not None:
                extra_ref = reference_extra_conditions if streams else reference_extra_conditions[None]
                conditions = torch.cat([conditions, _resize(extra_conditions.float(), size).to(device)], dim=1)
                ref_cond = torch.cat([ref_cond, _resize(extra_ref.float(), size).to(device)], dim=1)
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

        def per_subject(v: torch.Tensor | None) -> torch.Tensor | None:  # (...) -> (s, ...): one copy per branch
            return None if v is None else v.float().to(device)[None].expand(s, *v.shape)

        state = self.model.encode_reference(per_subject(ref), per_subject(ref_cond), drop,
                                            extra_tokens=per_subject(extra_tokens),
                                            reference_camera=per_subject(reference_camera))
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

    def _check_inputs(self, reference, reference_conditions, coarse, normal, camera, reference_camera,
                      extra_tokens, extra_conditions=None, reference_extra_conditions=None) -> tuple[int, int, int]:
        """ValueError naming the first argument with a wrong shape (the callers build these
        tensors; a mismatch is a bug). Returns (N, H, W)."""
        if coarse.ndim != 4 or coarse.shape[1] != 4:
            raise ValueError(f"coarse must have shape (N, 4, H, W), got {tuple(coarse.shape)}")
        n, _, h, w = coarse.shape
        if reference.ndim not in (3, 4) or reference.shape[-3] != 4:
            raise ValueError(f"reference must have shape (4, H', W') or (R, 4, H', W'), got {tuple(reference.shape)}")
        r = reference.shape[0] if reference.ndim == 4 else 1
        rh, rw = reference.shape[-2:]
        expected = {  # name: (tensor, shape, shape as the user should read it)
            "reference_conditions": (reference_conditions, (*reference.shape[:-3], 7, rh, rw),
                                     "(7, H', W') like reference, (R, 7, H', W') for R streams"),
            "normal": (normal, (n, 3, h, w), "(N, 3, H, W)"),
            "camera": (camera, (n, 12), "(N, 12)"),
            "reference_camera": (reference_camera, (r, 12), "(R, 12)"),
        }
        if extra_tokens is not None:
            t = extra_tokens.shape[0] if extra_tokens.ndim == 2 else "T"
            expected["extra_tokens"] = (extra_tokens, (t, self.config.cross_attention_dim), "(T, cross_attention_dim)")
        e = self.config.condition_channels - 7 if self.config.space == "pixel" else 0
        if e > 0 and (extra_conditions is None or reference_extra_conditions is None):
            raise ValueError(f"this model takes {e} extra condition maps: pass extra_conditions (N, {e}, H, W) "
                             f"and reference_extra_conditions")
        if e <= 0 and (extra_conditions is not None or reference_extra_conditions is not None):
            raise ValueError("this model takes no extra condition maps (condition_channels = 7)")
        if e > 0:
            expected["extra_conditions"] = (extra_conditions, (n, e, h, w), f"(N, {e}, H, W)")
            expected["reference_extra_conditions"] = (reference_extra_conditions, (*reference.shape[:-3], e, rh, rw),
                                                      f"({e}, H', W') like reference")
        for name, (x, shape, shown) in expected.items():
            if x is not None and tuple(x.shape) != shape:
                raise ValueError(f"{name} must have shape {shown} with N={n}, H={h}, W={w}, R={r}, "
                                 f"got {tuple(x.shape)}")
        return n, h, w
