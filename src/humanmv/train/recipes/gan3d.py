"""The gan3d recipe: trains 3DHumanGAN (`models.gan3d`) on single views of synthetic subjects.

    run_training("gan3d", TrainConfig(data="ds", out="runs/g", steps=50000, batch_size=8),
                 GAN3DOptions(config="small", exclude_pose_families=("walking",)))

Each step sees B views (`data.gan3d_views.GAN3DViews`: cropped to the GAN's portrait, on
white, labels mapped to body parts). The generator is conditioned on the same B posed bodies
and cameras (shell samples built here, with this process's Renderer) with fresh z's, so fakes
and reals share the pose and view distribution and D must judge appearance. G runs once per
step; its image, composited with its own mask over white like the reals, feeds both halves:
- D step: D(reals ++ fakes) in one pass; segmentation loss (reals -> their label maps, fakes
  -> "fake"; OASIS class balancing) or the binary ablation's non-saturating loss; every
  r1_every steps the R1 penalty on the reals, weighed gamma / 2 * r1_every (lazy R1,
  StyleGAN2); clipping, Adam step.
- G step: D (just updated) on the same fakes: segmentation G loss against the conditioning
  body's part labels (`body_labels`), or the non-saturating loss; plus mode_seeking x the
  mode-seeking term of a second image of the same conditions from another z; clipping, Adam step.
All noise (z, shell-sample jitter) comes from the step's generators, so a run resumed after
SIGKILL repeats the uninterrupted one exactly. Adam betas (0, 0.99) as StyleGAN2, no weight
decay; D's LR is --lr x d_lr_ratio; the loop keeps the EMA of G.

Batch norm: the EMA's weights are not the trained G's, so the running statistics it copies
from G do not fit it; before every sample grid and the export its statistics are recomputed
over calibration_views fixed training views (`GAN3DGenerator.recalibrate_batch_norm`). The next
EMA itself is left alone (a copy is recalibrated), so checkpoints and resume are unaffected.

Named objects: modules "G", "D"; optimizers and LR schedulers "G", "D"; EMA "G". Samples: the
EMA G with fixed z's (rows: people) over fixed conditions (columns: 2 subjects x 3 views, from
the val split when there is one), under a first row of the real views. Export: final/ is a
`GAN3DGenerator.save_pretrained` folder of the EMA G.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F

from humanmv.errors import ConfigError
from humanmv.train.config import Options, TrainConfig
from humanmv.train.data import check_data
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer,
                                  register_recipe)

SAMPLE_SUBJECTS = 2
SAMPLE_VIEWS = ("000", "006", "012")   # the rig's azimuths 0, 90 and 180 degrees
SAMPLE_PEOPLE = 4                       # rows of the sample grid (fixed z's)
CALIBRATION_BATCH = 8                   # views per batch of the batch-norm recalibration
_SHARED: dict[str, Any] = {}            # this process's Anny body and Renderer, built on first use


@dataclass
class GAN3DOptions(Options):
    """The gan3d recipe's own options (all math options: kept on resume). A step sees
    batch_size single views."""

    config: str = "small"                   # tiny | small | paper (models.gan3d.get_gan3d_config)
    backbone: Optional[str] = None          # ablation override: 1x1 | upsampling
    norm: Optional[str] = None              # ablation override: batch | instance
    disc_loss: Optional[str] = None         # ablation override: segmentation | binary
    r1_gamma: float = 1.0                   # R1 weight gamma (0 = off)
    r1_every: int = 4                       # lazy R1: every this many steps, weighed x r1_every
    d_lr_ratio: float = 2.0                 # D's learning rate over G's (--lr)
    gan_beta1: float = 0.0                  # Adam betas of both networks (StyleGAN2's 0, 0.99)
    gan_beta2: float = 0.99
    class_balance: bool = True              # OASIS per-class pixel weights in the segmentation loss
    truncation: float = 0.7                 # psi of the sample grid
    crop_margin: float = 1.1                # the view crop's height over the person's
    exclude_pose_families: tuple[str, ...] = ()   # held out of training (meta.json "pose_family")
    mode_seeking: float = 1.0               # weight of the mode-seeking term (MSGAN), 0 = off
    calibration_views: int = 128            # training views the EMA's batch-norm statistics are recomputed on

    def __post_init__(self) -> None:
        # JSON gives a list back; a tuple keeps the resume comparison exact.
        self.exclude_pose_families = tuple(self.exclude_pose_families)

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.r1_gamma >= 0, f"--r1-gamma must be >= 0, got {self.r1_gamma}"),
            (self.r1_every >= 1, f"--r1-every must be at least 1, got {self.r1_every}"),
            (self.d_lr_ratio > 0, f"--d-lr-ratio must be positive, got {self.d_lr_ratio}"),
            (0 <= self.gan_beta1 < 1 and 0 <= self.gan_beta2 < 1,
             f"gan betas must be within [0, 1), got {self.gan_beta1}, {self.gan_beta2}"),
            (0 <= self.truncation <= 1, f"--truncation must be within [0, 1], got {self.truncation}"),
            (self.crop_margin >= 1, f"--crop-margin must be at least 1, got {self.crop_margin}"),
            (self.mode_seeking >= 0, f"--mode-seeking must be >= 0, got {self.mode_seeking}"),
            (self.calibration_views >= 1, f"--calibration-views must be at least 1, got {self.calibration_views}"),
        ]


def gan3d_config(options: GAN3DOptions):
    """The GAN3DConfig of options.config with the ablation overrides; one-line ConfigError
    for an unknown name or value."""
    from humanmv.models.gan3d import get_gan3d_config

    changes = {k: getattr(options, k) for k in ("backbone", "norm", "disc_loss") if getattr(options, k) is not None}
    return get_gan3d_config(options.config, **changes)


def mode_seeking_loss(a: torch.Tensor, b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019) for images a, b [B, 3, H, W] of the same
    conditions from codes z_a, z_b [B, Nz]: mean over the batch of 1 / (|a - b|_1 / |z_a - z_b|_1
    + eps), mean absolute differences. Small when different codes give different images, so a
    conditional generator cannot ignore z (without it ours drew the same person for every z)."""
    ratio = (a - b).abs().mean((1, 2, 3)) / (z_a - z_b).abs().mean(1).clamp_min(1e-8)
    return (1 / (ratio + 1e-5)).mean()


def _split(out, n: int):
    """A DiscriminatorOutput of reals ++ fakes -> (reals', fakes')."""
    from humanmv.models.gan3d import DiscriminatorOutput

    if out.logits is not None:
        return DiscriminatorOutput(logits=out.logits[:n]), DiscriminatorOutput(logits=out.logits[n:])
    return DiscriminatorOutput(image_logit=out.image_logit[:n]), DiscriminatorOutput(image_logit=out.image_logit[n:])


@register_recipe
class GAN3DRecipe(Recipe):
    """`humanmv train gan3d`: GAN3DGenerator + UNetDiscriminator on GAN3DViews (module
    docstring). `body` / `renderer`: an AnnyBody / Renderer to use (default: one per process)."""

    name = "gan3d"
    options_class = GAN3DOptions

    def __init__(self, body=None, renderer=None) -> None:
        self._body, self._renderer = body, renderer

    @property
    def body(self):
        if self._body is None:
            if "body" not in _SHARED:
                from humanmv.body.anny_model import AnnyBody

                _SHARED["body"] = AnnyBody()
            self._body = _SHARED["body"]
        return self._body

    @property
    def renderer(self):
        if self._renderer is None:
            if "renderer" not in _SHARED:
                from humanmv.render import Renderer

                _SHARED["renderer"] = Renderer()
            self._renderer = _SHARED["renderer"]
        return self._renderer

    def check(self, cfg: TrainConfig, options: GAN3DOptions) -> None:
        from humanmv.data.gan3d_views import select_subjects

        gan3d_config(options)  # a bad config name fails before the data is looked at
        if cfg.num_workers:
            raise ConfigError(f"--num-workers {cfg.num_workers}: gan3d renders with OpenGL in the training process, "
                              "which hangs in forked data loader workers; use --num-workers 0")
        check_data(cfg.data)
        select_subjects(cfg.data, "train", options.exclude_pose_families)

    def build(self, cfg: TrainConfig, options: GAN3DOptions) -> TrainObjects:
        from humanmv.models.gan3d import GAN3DGenerator, UNetDiscriminator

        config = gan3d_config(options)
        G, D = GAN3DGenerator(config), UNetDiscriminator(config)
        betas = (options.gan_beta1, options.gan_beta2)
        opt_g = make_optimizer(G.parameters(), cfg, betas=betas, weight_decay=0.0)
        opt_d = make_optimizer(D.parameters(), cfg, lr=cfg.lr * options.d_lr_ratio, betas=betas, weight_decay=0.0)
        return TrainObjects(modules={"G": G, "D": D}, optimizers={"G": opt_g, "D": opt_d},
                            schedulers={"G": make_lr_scheduler(opt_g, cfg), "D": make_lr_scheduler(opt_d, cfg)},
                            emas={"G": EMA(G, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: GAN3DOptions, objects: TrainObjects) -> tuple[Any, dict]:
        """(training views, the sample item: {"conditions": collated views, "z": [R, Nz], "truncation"})."""
        from torch.utils.data import default_collate

        from humanmv.data.gan3d_views import GAN3DViews

        c = objects.modules["G"].config
        kw = dict(height=c.image_height, width=c.image_width, margin=options.crop_margin, renderer=self.renderer)
        train = GAN3DViews(cfg.data, self.body, split="train", exclude_pose_families=options.exclude_pose_families,
                           **kw)
        try:  # the sample conditions: held-out subjects (of any pose family) when there are some
            shown = GAN3DViews(cfg.data, self.body, split="val", **kw)
        except ConfigError:
            shown = train
        picks = []
        for s in range(min(SAMPLE_SUBJECTS, len(shown.subjects))):
            mine = [i for i, (t, _) in enumerate(shown.items) if t == s]
            named = [i for i in mine if shown.cameras[s].names[shown.items[i][1]] in SAMPLE_VIEWS]
            picks += named or mine[:len(SAMPLE_VIEWS)]
        z = torch.randn(SAMPLE_PEOPLE, c.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
        pick = torch.Generator().manual_seed(cfg.seed + 1)
        self._calibration = train, torch.randperm(len(train), generator=pick)[:options.calibration_views].tolist()
        return train, {"conditions": default_collate([shown[i] for i in picks]), "z": z,
                       "truncation": options.truncation}

    def shell_batch(self, batch: dict, config, generator: Optional[torch.Generator]):
        """ShellSamples (CPU) of a collated batch's B bodies at their cameras, at the style-map size."""
        from humanmv.data.gan3d_views import batch_cameras
        from humanmv.models.gan3d import PosedBody, ShellSamples, shell_samples

        cams = batch_cameras(batch, config.image_height, config.image_width).resized(config.style_width,
                                                                                    config.style_height)
        body, parts = self.body, []
        for b in range(len(cams)):
            posed = PosedBody(batch["vertices"][b].detach().float().cpu(), batch["blend"][b].detach().float().cpu(),
                              body.faces, body.face_labels)
            parts.append(shell_samples(posed, cams[b], self.renderer, config.shell_half_thickness,
                                       config.samples_per_ray, generator=generator))
        return ShellSamples.cat(parts)

    def training_step(self, ctx: StepContext, batch: dict) -> dict[str, Any]:
        from humanmv.models.gan3d import (nonsaturating_d_loss, nonsaturating_g_loss, r1_penalty, realness_score,
                                          segmentation_d_loss, segmentation_g_loss)

        acc, G, D, o = ctx.accelerator, ctx.modules["G"], ctx.modules["D"], ctx.options
        opt_g, opt_d = ctx.optimizers["G"], ctx.optimizers["D"]
        c = acc.unwrap_model(G).config
        real, real_mask = batch["rgb"], batch["mask"]
        B, device = real.shape[0], real.device
        samples = self.shell_batch(batch, c, ctx.generator("shells")).to(device)
        z = torch.randn(B, c.z_dim, generator=ctx.generator("z")).to(device)
        out = G(z, samples)
        fake = out.on_white()
        masks = (lambda *m: torch.cat(m)) if c.disc_with_mask else (lambda *m: None)
        segmentation = c.disc_loss == "segmentation"

        # D step: reals and (detached) fakes in one pass; lazy R1 on the reals.
        r1_now = o.r1_gamma > 0 and ctx.step % o.r1_every == 0
        real_in = real.detach().requires_grad_(r1_now)
        d_real, d_fake = _split(D(torch.cat([real_in, fake.detach()]), masks(real_mask, out.mask.detach())), B)
        if segmentation:
            loss_d = segmentation_d_loss(d_real.logits, batch["labels"], d_fake.logits, o.class_balance)
        else:
            loss_d = nonsaturating_d_loss(d_real.image_logit, d_fake.image_logit)
        real_score, fake_score = realness_score(d_real).mean().detach(), realness_score(d_fake).mean().detach()
        r1 = r1_penalty(realness_score(d_real), real_in) if r1_now else None
        acc.backward((loss_d + o.r1_gamma / 2 * o.r1_every * r1) if r1_now else loss_d)
        grad_d = acc.clip_grad_norm_(D.parameters(), ctx.cfg.max_grad_norm)
        opt_d.step()
        ctx.schedulers["D"].step()
        opt_d.zero_grad(set_to_none=True)

        # G step: the updated D on the same fakes.
        d_gen = D(fake, masks(out.mask))
        if segmentation:
            loss_g = segmentation_g_loss(d_gen.logits, batch["body_labels"], o.class_balance)
        else:
            loss_g = nonsaturating_g_loss(d_gen.image_logit)
        seeking = None
        if o.mode_seeking > 0:
            z2 = torch.randn(B, c.z_dim, generator=ctx.generator("z2")).to(device)
            out2 = G(z2, samples)
            seeking = mode_seeking_loss(fake, out2.on_white(), z, z2)
        acc.backward(loss_g + o.mode_seeking * seeking if seeking is not None else loss_g)
        grad_g = acc.clip_grad_norm_(G.parameters(), ctx.cfg.max_grad_norm)
        opt_g.step()
        ctx.schedulers["G"].step()
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)  # the G step's gradients on D are not D's to use
        return {"loss_d": loss_d, "loss_g": loss_g, "r1": r1, "mode_seeking": seeking, "real_score": real_score, "fake_score": fake_score,
                "grad_norm_d": grad_d, "grad_norm_g": grad_g}

    def calibration_batches(self, config, seed: int):
        """(z, ShellSamples) batches of the calibration_views fixed training views with fixed z's:
        what `GAN3DGenerator.recalibrate_batch_norm` averages the EMA's statistics over."""
        from torch.utils.data import default_collate

        views, indices = self._calibration
        noise = torch.Generator().manual_seed(seed + 2)
        for start in range(0, len(indices), CALIBRATION_BATCH):
            batch = default_collate([views[i] for i in indices[start:start + CALIBRATION_BATCH]])
            samples = self.shell_batch(batch, config, None)
            yield torch.randn(samples.num_views, config.z_dim, generator=noise), samples

    def calibrated(self, G, seed: int):
        """A copy of G (the EMA) with its batch-norm statistics recomputed on the calibration
        views, on G's device (a copy: the EMA's checkpoint stays what the updates made it)."""
        import copy

        G = copy.deepcopy(G)
        device = next(G.parameters()).device
        G.recalibrate_batch_norm((z.to(device), s.to(device)) for z, s in self.calibration_batches(G.config, seed))
        return G

    @torch.no_grad()
    def sample_images(self, G, item: dict) -> torch.Tensor:
        """[(1 + R) * N, 3, H, W] in [0, 1]: the N real conditions, then R people (item["z"])
        generated by G at each of them (bin-midpoint shell samples: no jitter)."""
        device = next(G.parameters()).device
        cond = item["conditions"]
        samples = self.shell_batch(cond, G.config, None).to(device)
        N = samples.num_views
        rows = [cond["rgb"].to(device)]
        was_training = G.training
        G.eval()
        try:
            for z in item["z"].to(device):
                out = G(z[None].expand(N, -1), samples, truncation=item["truncation"])
                rows.append(out.on_white())
        finally:
            G.train(was_training)
        return ((torch.cat(rows).float().cpu() + 1) / 2).clamp(0, 1)

    def write_samples(self, path: Path, objects: TrainObjects, item: dict, cfg: TrainConfig) -> None:
        from humanmv.io.grid import save_grid

        images = self.sample_images(self.calibrated(objects.emas["G"].model, cfg.seed), item)
        scale = max(1, 128 // images.shape[2])  # tiny configs' images enlarged to be seen
        images = F.interpolate(images, scale_factor=scale, mode="nearest") if scale > 1 else images
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_grid(path, images.permute(0, 2, 3, 1), cols=len(item["conditions"]["rgb"]), pad=2)

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: GAN3DOptions) -> None:
        G = self.calibrated(objects.emas["G"].model, cfg.seed)
        G.save_pretrained(folder / "generator")  # writes its own folder atomically
        for p in (folder / "generator").iterdir():
            os.replace(p, folder / p.name)
        (folder / "generator").rmdir()

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"gan3d_config": objects.modules["G"].config.to_dict()}


__all__ = ["GAN3DOptions", "GAN3DRecipe", "gan3d_config", "mode_seeking_loss"]
