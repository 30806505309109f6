"""The mvdiff recipe: trains the multi-view diffusion generator (`models.mv_unet`) that
`pipelines.mvdiff.MVDiffPipeline` samples from.

    run_training("mvdiff", TrainConfig(data="ds", out="runs/a", steps=20000), MVDiffOptions(config="small"))

Each step: S subjects (per process) x N target views of `data.mvdiff_pairs.MVDiffPairs`; the
clean views x0 (S, N, 4, h, w) in [-1, 1] are noised by diffusers' DDPMScheduler at one uniform
timestep per subject; the model predicts config.prediction_type from (x_t, t, coarse+normal
conditions, camera, reference); the loss is the MSE to that target, pixels inside the union of
the target and coarse masks weighing 1 + mask_weight. With probability reference_dropout a
subject trains without its reference (classifier-free guidance). AdamW, linear warm-up then
cosine (or constant) LR, gradient clipping; the loop keeps the EMA. Noise, timesteps and
dropout come from the step's generator, so resuming reproduces an uninterrupted run.

Named objects: module, optimizer, LR scheduler and EMA are all called "model". Samples: one
fixed held-out subject in three rows, the prior's coarse views | the EMA model's views | the
ground truth. Export: the EMA weights as an MVDiffPipeline folder (final/model/,
final/scheduler_config.json).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from humanmv.errors import ConfigError
from humanmv.train.config import Options, TrainConfig
from humanmv.train.data import check_data
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer, optimize,
                                  register_recipe)


@dataclass
class MVDiffOptions(Options):
    """The mvdiff recipe's own options (all of them math options: kept on resume). A step
    sees batch_size subjects x `views` target views of `size` x `size` pixels."""

    config: str = "small"               # model config name (humanmv.models.get_config)
    views: int = 6                      # target views per subject
    size: Optional[int] = None          # pixels; None = the model config's sample_size
    reference_dropout: float = 0.1      # share of subjects trained without the reference (CFG)
    mask_weight: float = 1.0            # pixels in (target | coarse) mask weigh 1 + mask_weight
    colour_augment: float = 0.5         # share of subjects whose colours are jittered (MVDiffPairs)
    skirt_share: Optional[float] = None  # at most this share of training subjects in a skirt or dress
    init_from: Optional[str] = None     # start from this model folder (config.json + weights), not from noise

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (0 <= self.colour_augment <= 1, f"--colour-augment must be within [0, 1], got {self.colour_augment}"),
            (self.views >= 1, f"--views must be at least 1, got {self.views}"),
            (self.skirt_share is None or 0 <= self.skirt_share < 1,
             f"--skirt-share must be within [0, 1), got {self.skirt_share}"),
            (self.size is None or 8 <= self.size <= 4096, f"--size must be within 8..4096, got {self.size}"),
            (0 <= self.reference_dropout <= 1, f"reference_dropout must be within [0, 1], got {self.reference_dropout}"),
            (self.mask_weight >= 0, f"mask_weight must be >= 0, got {self.mask_weight}"),
        ]


def noise_scheduler_for(model_config: Any):
    """diffusers' DDPMScheduler (training noise) from an MVDiffConfig, on the same noise
    schedule as the pipeline's samplers (config.scheduler_kwargs())."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**model_config.scheduler_kwargs())


def diffusion_loss(model: nn.Module, batch: dict, noise_scheduler: Any, prediction_type: str,
                   generator: torch.Generator, reference_dropout: float = 0.0,
                   mask_weight: float = 0.0, model_kwargs: dict | None = None) -> torch.Tensor:
    """Weighted MSE of one batch (a scalar). batch: target/coarse (S, N, 4, h, w), normal
    (S, N, 3, h, w), camera (S, N, 12), reference (S, 4, h, w), reference_conditions
    (S, 7, h, w), all in [0, 1] on the model's device; optional extra (S, N, E, h, w) and
    reference_extra (S, E, h, w) condition maps after them, and weight_mask (S, N, h, w): the
    pixels that weigh 1 + mask_weight (default: the union of the target and coarse masks).
    `generator` (CPU) draws noise, timesteps and reference dropout; model_kwargs go to the model."""
    target = batch["target"]
    S, device = target.shape[0], target.device
    x0 = target * 2 - 1
    noise = torch.randn(x0.shape, generator=generator).to(device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (S,), generator=generator)
    drop = torch.rand(S, generator=generator) < reference_dropout
    timesteps, drop = timesteps.to(device), drop.to(device)
    noisy = noise_scheduler.add_noise(x0, noise, timesteps)
    conditions = torch.cat([batch["coarse"], batch["normal"]] + ([batch["extra"]] if "extra" in batch else []), dim=-3)
    reference_conditions = batch["reference_conditions"]
    if "reference_extra" in batch:
        reference_conditions = torch.cat([reference_conditions, batch["reference_extra"]], dim=-3)
    pred = model(noisy, timesteps, conditions, batch["camera"], batch["reference"],
                 reference_conditions, drop_reference=drop, **(model_kwargs or {}))
    if prediction_type == "epsilon":
        goal = noise
    elif prediction_type == "sample":
        goal = x0
    elif prediction_type == "v_prediction":
        goal = noise_scheduler.get_velocity(x0, noise, timesteps)
    else:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; use epsilon, sample or v_prediction")
    if "weight_mask" in batch:
        inside = batch["weight_mask"][:, :, None] > 0.5                           # (S, N, 1, h, w)
    else:
        inside = (target[:, :, 3:4] > 0.5) | (batch["coarse"][:, :, 3:4] > 0.5)
    weight = 1.0 + mask_weight * inside.float()
    se = (pred.float() - goal.float()) ** 2
    return (weight * se).mean() / weight.mean()


PRIOR_TEXTURE_SIZE = 512  # the prior's texture for the training conditions (as the bench's)


def ensure_prior_views(root: str | Path, progress: Optional[Callable[[int, int], None]] = None,
                       names: Optional[list[str]] = None) -> int:
    """Check the dataset folder and fit the prior to any subject (of `names`, default all) that
    has no prior views yet (ROOT/prior/, `humanmv.pipelines.prior_views.prepare_prior_views`,
    resumable). Returns the number of subjects prepared now."""
    root = Path(root)
    finished = check_data(root)
    wanted = set(finished if names is None else names)
    failed_path = root / "prior" / "failed.json"
    failed = json.loads(failed_path.read_text()) if failed_path.is_file() else {}
    todo = [n for n in wanted if not (root / "prior" / n / "meta.json").is_file() and n not in failed]
    if not todo:
        return 0
    from humanmv.pipelines.prior_views import prepare_prior_views
    from humanmv.studio import Studio

    return prepare_prior_views(root, lambda: Studio(texture_size=PRIOR_TEXTURE_SIZE), progress=progress,
                               names=sorted(wanted))


def training_subjects(root: str | Path, options: "MVDiffOptions") -> list[str]:
    """The train split's subjects the recipe trains on (skirt/dress share capped) and the val
    split's it samples: the subjects whose prior views it needs."""
    from humanmv.data.format import finished_subjects
    from humanmv.data.mvdiff_pairs import cap_skirt_share

    root = Path(root)
    train = finished_subjects(root, "train")
    if options.skirt_share is not None:
        train = cap_skirt_share(root, train, options.skirt_share)
    return train + finished_subjects(root, "val")


def model_config_for(options: MVDiffOptions):
    """The MVDiffConfig named by options.config; ConfigError for an unknown name or a
    latent-space one (the trainer has no VAE yet)."""
    from humanmv.models.config import get_config

    model_config = get_config(options.config)
    if model_config.space != "pixel":
        raise ConfigError(f"--config {options.config} works in latent space, which needs a VAE the trainer "
                          "does not have yet; train a pixel-space config (tiny, small)")
    return model_config


def model_folder(path: str | os.PathLike[str]) -> Path:
    """The MultiViewUNet folder of an exported model: `path` itself or its model/ (an
    MVDiffPipeline folder such as a run's final/ or the shipped weights)."""
    path = Path(path)
    return path / "model" if (path / "model" / "config.json").is_file() else path


@torch.no_grad()
def generate_views(model: nn.Module, item: dict, seed: int = 0, steps: int = 20) -> torch.Tensor:
    """The model's views of a dataset item through MVDiffPipeline: (N, 4, h, w) in [0, 1]
    (the item's reference streams with their `reference_camera` when it has one)."""
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    g = torch.Generator().manual_seed(seed)
    return MVDiffPipeline(model)(item["reference"], item["reference_conditions"], item["coarse"], item["normal"],
                                 item["camera"], num_inference_steps=steps, generator=g,
                                 reference_camera=item.get("reference_camera")).float().cpu()


def sample_grid(path: str | os.PathLike[str], model: nn.Module, item: dict, seed: int = 0) -> Path:
    """Write the (coarse | generated | target) grid, one column per view. Returns the path."""
    from humanmv.io.grid import save_grid

    was_training = model.training
    model.eval()
    try:
        generated = generate_views(model, item, seed=seed)
    finally:
        model.train(was_training)
    rows = torch.cat([item["coarse"], generated.to(item["coarse"]), item["target"]])  # (3N, 4, h, w)
    images = rows.clamp(0, 1).permute(0, 2, 3, 1)                              # (3N, h, w, 4)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_grid(path, images, cols=item["coarse"].shape[0], pad=2)


def export_pipeline(folder: Path, model: nn.Module) -> None:
    """Write `model` as an MVDiffPipeline folder's content (model/, scheduler_config.json) into
    the empty `folder` (the loop's export folder)."""
    from humanmv.pipelines.mvdiff import MVDiffPipeline

    was_training = model.training
    MVDiffPipeline(model).save_pretrained(folder / "pipeline")  # writes its own folder atomically
    model.train(was_training)
    for p in (folder / "pipeline").iterdir():
        os.replace(p, folder / p.name)
    (folder / "pipeline").rmdir()


@register_recipe
class MVDiffRecipe(Recipe):
    """`humanmv train mvdiff`: MultiViewUNet on MVDiffPairs (see the module docstring)."""

    name = "mvdiff"
    options_class = MVDiffOptions
    noise_scheduler: Any = None         # the training noise of the built model (set by build)

    def check(self, cfg: TrainConfig, options: MVDiffOptions) -> None:
        model_config_for(options)  # an unknown config name fails before the data is looked at
        if options.init_from:
            from humanmv.models.checkpoint import load_config

            saved = load_config(model_folder(options.init_from) / "config.json")
            if saved.name != options.config:
                raise ConfigError(f"--init-from {options.init_from} holds a {saved.name!r} model, not "
                                  f"--config {options.config}; pass --config {saved.name}")
        check_data(cfg.data)

    def prepare_data(self, cfg: TrainConfig, options: MVDiffOptions,
                     progress: Optional[Callable[[int, int], None]] = None) -> None:
        ensure_prior_views(cfg.data, progress=progress, names=training_subjects(cfg.data, options))

    def build(self, cfg: TrainConfig, options: MVDiffOptions) -> TrainObjects:
        from humanmv.models.mv_unet import MultiViewUNet

        if options.init_from:
            model = MultiViewUNet.from_pretrained(model_folder(options.init_from))
        else:
            model = MultiViewUNet(model_config_for(options))
        self.noise_scheduler = noise_scheduler_for(model.config)
        optimizer = make_optimizer(model.parameters(), cfg)
        return TrainObjects(modules={"model": model}, optimizers={"model": optimizer},
                            schedulers={"model": make_lr_scheduler(optimizer, cfg)},
                            emas={"model": EMA(model, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: MVDiffOptions, objects: TrainObjects) -> tuple[Any, dict]:
        """(training MVDiffPairs, the fixed held-out item for samples: the first val subject,
        or the first training subject when the dataset has no val split)."""
        from humanmv.data.mvdiff_pairs import MVDiffPairs

        size = options.size or objects.modules["model"].config.sample_size
        ds = MVDiffPairs(cfg.data, views=options.views, size=size, seed=cfg.seed, split="train",
                         colour_augment=options.colour_augment, skirt_share=options.skirt_share)
        try:
            held = MVDiffPairs(cfg.data, views=options.views, size=size, seed=cfg.seed, split="val")
        except ConfigError:
            held = ds
        return ds, held[0]

    def training_step(self, ctx: StepContext, batch: dict) -> dict[str, Any]:
        model = ctx.modules["model"]
        prediction_type = ctx.accelerator.unwrap_model(model).config.prediction_type
        loss = diffusion_loss(model, batch, self.noise_scheduler, prediction_type, ctx.generator("noise"),
                              ctx.options.reference_dropout, ctx.options.mask_weight)
        return {"loss": loss, "grad_norm": optimize(ctx, "model", loss)}

    def write_samples(self, path: Path, objects: TrainObjects, item: dict, cfg: TrainConfig) -> None:
        sample_grid(path, objects.emas["model"].model, item, seed=cfg.seed)

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: MVDiffOptions) -> None:
        export_pipeline(folder, objects.emas["model"].model)

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"model_config": objects.modules["model"].config.to_dict()}
