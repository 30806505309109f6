"""The face recipe: trains the face stage (`models.face_unet.FaceStageModel`) that
`pipelines.face_refine.FaceRefinePipeline` samples from.

    run_training("face", TrainConfig(data="data/head-train-haired", out="runs/face", steps=2000), FaceOptions())

Each step: S subjects x N face crops of `data.face_views.FaceCropViews` (true face crops of
synthetic portraits; the coarse input is the target degraded as a body view's face is); the
diffusion loss of the mvdiff recipe (`diffusion_loss`, clean-sample MSE at a uniform timestep
per subject), the face mask's pixels weighing 1 + mask_weight. Stream dropout per subject, from
the step's generator (exact resume): the reference with `reference_dropout` (classifier-free
guidance), the identity tokens with `identity_dropout`, the 3D face-structure stream (shape
tokens and the normal / landmark maps together) with `shape_dropout`, so one model also runs
the ablation rows with a stream switched off.

Samples: a held-out subject, rows coarse | the EMA model's faces | ground truth. Export: the EMA
model as a face-stage folder (final/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from humanmv.errors import ConfigError
from humanmv.train.config import Options, TrainConfig
from humanmv.train.data import check_data
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer, optimize,
                                  register_recipe)
from humanmv.train.recipes.mvdiff import diffusion_loss, noise_scheduler_for


@dataclass
class FaceOptions(Options):
    """The face recipe's own options (all math options: kept on resume)."""

    config: str = "face-small"          # UNet config (humanmv.models.get_config; a face config)
    views: int = 4                      # face crops per subject
    reference_dropout: float = 0.1
    identity_dropout: float = 0.15
    shape_dropout: float = 0.15
    mask_weight: float = 3.0
    colour_augment: float = 0.5         # share of subjects with one colour transform on all their crops
    identity_tokens: int = 4
    shape_tokens: int = 4

    def checks(self) -> list[tuple[bool, str]]:
        probs = {"reference_dropout": self.reference_dropout, "identity_dropout": self.identity_dropout,
                 "shape_dropout": self.shape_dropout, "colour_augment": self.colour_augment}
        return [(0 <= v <= 1, f"--{k.replace('_', '-')} must be within [0, 1], got {v}") for k, v in probs.items()] + [
            (self.views >= 1, f"--views must be at least 1, got {self.views}"),
            (self.mask_weight >= 0, f"--mask-weight must be >= 0, got {self.mask_weight}"),
            (self.identity_tokens >= 1 and self.shape_tokens >= 1, "token counts must be at least 1"),
        ]


def face_model_config(name: str):
    from humanmv.models.config import get_config

    config = get_config(name)
    if config.space != "pixel" or config.condition_channels != 15:
        raise ConfigError(f"--config {name} is not a face config (15 condition channels, pixel space); "
                          "use face-small or face-tiny")
    return config


def drop_streams(batch: dict, generator: torch.Generator, identity_dropout: float, shape_dropout: float) -> dict:
    """The batch with the identity and 3D-structure streams dropped per subject (module
    docstring): has_identity False; has_shape False with white normals and zero extra maps."""
    S = batch["target"].shape[0]
    keep_identity = torch.rand(S, generator=generator) >= identity_dropout
    keep_shape = torch.rand(S, generator=generator) >= shape_dropout
    from humanmv.pipelines.face_refine import blank_maps

    out = dict(batch)
    device = batch["target"].device
    out["has_identity"] = batch["has_identity"].to(device) & keep_identity.to(device)
    out["has_shape"] = keep_shape.to(device)
    keep = keep_shape.to(device).view(S, 1, 1, 1)
    blank_normal, blank_extra = blank_maps(batch["normal"], batch["extra"])
    out["normal"] = torch.where(keep[:, None], batch["normal"], blank_normal)
    out["extra"] = torch.where(keep[:, None], batch["extra"], blank_extra)
    ref_normal, ref_extra = blank_maps(batch["reference_conditions"][:, 4:7], batch["reference_extra"])
    out["reference_conditions"] = torch.cat([batch["reference_conditions"][:, :4],
                                             torch.where(keep, batch["reference_conditions"][:, 4:7], ref_normal)], 1)
    out["reference_extra"] = torch.where(keep, batch["reference_extra"], ref_extra)
    return out


@register_recipe
class FaceRecipe(Recipe):
    """`humanmv train face`: FaceStageModel on FaceCropViews (module docstring)."""

    name = "face"
    options_class = FaceOptions
    noise_scheduler: Any = None

    def check(self, cfg: TrainConfig, options: FaceOptions) -> None:
        face_model_config(options.config)
        check_data(cfg.data)

    def build(self, cfg: TrainConfig, options: FaceOptions) -> TrainObjects:
        from humanmv.body.anny_model import AnnyBody
        from humanmv.models.face_tokens import FaceTokensConfig
        from humanmv.models.face_unet import FaceStageModel

        config = face_model_config(options.config)
        self.body = AnnyBody()
        shape_dim = 6 + len(self.body.expression_names)
        model = FaceStageModel.create(config, FaceTokensConfig(config.cross_attention_dim, shape_dim,
                                                        identity_tokens=options.identity_tokens,
                                                        shape_tokens=options.shape_tokens))
        self.noise_scheduler = noise_scheduler_for(config)
        optimizer = make_optimizer(model.parameters(), cfg)
        return TrainObjects(modules={"model": model}, optimizers={"model": optimizer},
                            schedulers={"model": make_lr_scheduler(optimizer, cfg)},
                            emas={"model": EMA(model, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: FaceOptions, objects: TrainObjects) -> tuple[Any, dict]:
        from humanmv.data.face_views import FaceCropViews

        size = objects.modules["model"].config.sample_size
        ds = FaceCropViews(cfg.data, self.body, size=size, views=options.views, seed=cfg.seed, split="train",
                           colour_augment=options.colour_augment)
        try:
            held = FaceCropViews(cfg.data, self.body, size=size, views=options.views, seed=cfg.seed, split="val")
        except ConfigError:
            held = ds
        return ds, held[0]

    def training_step(self, ctx: StepContext, batch: dict) -> dict[str, Any]:
        model, o = ctx.modules["model"], ctx.options
        batch = drop_streams(batch, ctx.generator("streams"), o.identity_dropout, o.shape_dropout)
        batch["weight_mask"] = batch["face_mask"]
        kwargs = {k: batch[k] for k in ("identity", "has_identity", "shape", "has_shape")}
        loss = diffusion_loss(model, batch, self.noise_scheduler, "sample", ctx.generator("noise"),
                              o.reference_dropout, o.mask_weight, model_kwargs=kwargs)
        return {"loss": loss, "grad_norm": optimize(ctx, "model", loss)}

    def write_samples(self, path: Path, objects: TrainObjects, item: dict, cfg: TrainConfig) -> None:
        from humanmv.io.grid import save_grid
        from humanmv.pipelines.face_refine import refine_face_crops

        model = objects.emas["model"].model
        was_training = model.training
        model.eval()
        try:
            faces = refine_face_crops(model, item, generator=torch.Generator().manual_seed(cfg.seed))
        finally:
            model.train(was_training)
        rows = torch.cat([item["coarse"], faces, item["target"]]).clamp(0, 1).permute(0, 2, 3, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_grid(path, rows, cols=item["coarse"].shape[0], pad=2)

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: FaceOptions) -> None:
        import os

        model = objects.emas["model"].model
        model.save_pretrained(folder / "face")
        for p in (folder / "face").iterdir():
            os.replace(p, folder / p.name)
        (folder / "face").rmdir()

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"model_config": objects.modules["model"].config.to_dict()}
