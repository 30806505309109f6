"""The head360 recipe: trains the head generator's models (seeds 001 / 003) stage by stage.

    run_training("head360", TrainConfig(data="data/head-train-haired", out="runs/back", steps=2000),
                 Head360Options(stage="back", init_from="src/humanmv/weights/mvdiff-small"))

Stages (`data.head360_views.Head360Views` makes their items):
- back: the back-view generator, a MultiViewUNet denoising the view opposite the input from the
  input alone (one reference stream), with strong appearance augmentation (`colour_augment`,
  default 0.8: seed 003 A.1) so that its backs follow the input's hair and clothes rather than
  the training set's average.
- main: the multi-view model, `views` targets attending to two reference streams (dual
  appearance: the input and the back view) through reference attention, each stream with its
  own camera (`reference_camera`).
- consistency: the view-consistency module: view-sequence blocks (`models.view_sequence`,
  zero-initialised) added to a trained main model (`init_from`, required) and trained alone on
  continuous view sequences (`sequence="random"`: the ablation trained on random views) while
  the main model stays frozen, as AnimateDiff trains its motion modules.

The loss is the mvdiff recipe's (`diffusion_loss`: clean-sample MSE at one uniform timestep per
subject, the person's pixels weighing 1 + mask_weight), reference dropout for classifier-free
guidance. Samples: a held-out subject, rows coarse | the EMA model's views | ground truth.
Export: the EMA model as an MVDiffPipeline folder plus head360_stage.json ({"stage", "sequence"}).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional


from humanmv.errors import ConfigError
from humanmv.train.config import Options, TrainConfig
from humanmv.train.data import check_data
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer, optimize,
                                  register_recipe)
from humanmv.train.recipes.mvdiff import (PRIOR_TEXTURE_SIZE, diffusion_loss, export_pipeline, model_folder,
                                         noise_scheduler_for, sample_grid)

STAGE_FILE = "head360_stage.json"


@dataclass
class Head360Options(Options):
    """The head360 recipe's own options (all math options: kept on resume)."""

    stage: str = "main"                 # back, main or consistency
    config: str = "small"               # model config (humanmv.models.get_config) when not init_from
    views: int = 8                      # target views per subject (back: always 1)
    sequence: str = "continuous"        # continuous (neighbouring views) or random (the ablation)
    reference_dropout: float = 0.1
    mask_weight: float = 1.0
    colour_augment: Optional[float] = None   # None: 0.8 for back, 0.5 otherwise
    back_from_prior: float = 0.15       # share of main items whose back reference is the prior's render
    window: int = 0                     # consistency: view-sequence window (0 = all views of a pass)
    init_from: Optional[str] = None     # a model folder to start from (consistency: the main model)

    def checks(self) -> list[tuple[bool, str]]:
        from humanmv.data.head360_views import SEQUENCES, STAGES

        return [
            (self.stage in STAGES, f"--stage must be one of {', '.join(STAGES)}, got {self.stage!r}"),
            (self.sequence in SEQUENCES, f"--sequence must be one of {', '.join(SEQUENCES)}, got {self.sequence!r}"),
            (self.views >= 2 or self.stage == "back", f"--views must be at least 2, got {self.views}"),
            (self.colour_augment is None or 0 <= self.colour_augment <= 1,
             f"--colour-augment must be within [0, 1], got {self.colour_augment}"),
            (0 <= self.reference_dropout <= 1, f"reference_dropout must be within [0, 1], got {self.reference_dropout}"),
            (0 <= self.back_from_prior <= 1, f"back_from_prior must be within [0, 1], got {self.back_from_prior}"),
            (self.window == 0 or self.window % 2 == 1, f"--window must be 0 or odd, got {self.window}"),
            (self.stage != "consistency" or bool(self.init_from),
             "--stage consistency trains on top of a main model: pass --init-from RUN/final"),
        ]

    @property
    def colour_share(self) -> float:
        return self.colour_augment if self.colour_augment is not None else (0.8 if self.stage == "back" else 0.5)


def ensure_head_prior_views(root: str | Path, progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Fit the prior in head mode to the input view of every train and val subject not yet done
    (ROOT/prior-head/, resumable). Returns the number of subjects prepared now."""
    from humanmv.data.format import finished_subjects
    from humanmv.pipelines.prior_views import prepare_prior_views
    from humanmv.studio import Studio

    check_data(root)
    # Only the splits training reads (train, and val for the samples): not the test subjects.
    used = finished_subjects(Path(root), "train") + finished_subjects(Path(root), "val")
    return prepare_prior_views(Path(root), lambda: Studio(texture_size=PRIOR_TEXTURE_SIZE), progress=progress,
                               mode="head", names=used)


def stage_of(folder: str | os.PathLike[str]) -> dict:
    """head360_stage.json of an exported stage folder; CheckpointError naming the file."""
    from humanmv.models.checkpoint import read_json

    return read_json(Path(folder) / STAGE_FILE,
                     "missing; not a head360 stage folder (train one with `humanmv train head360`)")


@register_recipe
class Head360Recipe(Recipe):
    """`humanmv train head360 --stage back|main|consistency` (module docstring)."""

    name = "head360"
    options_class = Head360Options
    noise_scheduler: Any = None

    def check(self, cfg: TrainConfig, options: Head360Options) -> None:
        from humanmv.models.checkpoint import load_config

        if options.init_from:
            load_config(model_folder(options.init_from) / "config.json")  # CheckpointError naming the file
        check_data(cfg.data)

    def prepare_data(self, cfg: TrainConfig, options: Head360Options,
                     progress: Optional[Callable[[int, int], None]] = None) -> None:
        ensure_head_prior_views(cfg.data, progress=progress)

    def build(self, cfg: TrainConfig, options: Head360Options) -> TrainObjects:
        from humanmv.models.config import get_config
        from humanmv.models.mv_unet import VIEW_SEQUENCE_PREFIX, MultiViewUNet

        if options.stage == "consistency":
            model = MultiViewUNet.from_pretrained(model_folder(options.init_from), view_sequence=True,
                                                  view_sequence_window=options.window)
            for name, p in model.named_parameters():  # the main model stays as it was trained
                p.requires_grad_(name.startswith(VIEW_SEQUENCE_PREFIX))
        elif options.init_from:
            model = MultiViewUNet.from_pretrained(model_folder(options.init_from))
        else:
            model = MultiViewUNet(get_config(options.config))
        if model.config.space != "pixel" or model.config.condition_channels != 7:
            raise ConfigError(f"head360 trains pixel-space models with 7 condition channels; "
                              f"{model.config.name!r} is not one (use small or tiny)")
        self.noise_scheduler = noise_scheduler_for(model.config)
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
        return TrainObjects(modules={"model": model}, optimizers={"model": optimizer},
                            schedulers={"model": make_lr_scheduler(optimizer, cfg)},
                            emas={"model": EMA(model, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: Head360Options, objects: TrainObjects) -> tuple[Any, dict]:
        from humanmv.data.head360_views import Head360Views

        size = objects.modules["model"].config.sample_size
        kwargs = dict(stage=options.stage, views=options.views, size=size, seed=cfg.seed, sequence=options.sequence,
                      back_from_prior=options.back_from_prior)
        ds = Head360Views(cfg.data, split="train", colour_augment=options.colour_share, **kwargs)
        try:
            held = Head360Views(cfg.data, split="val", colour_augment=0.0, **kwargs)
        except ConfigError:
            held = ds
        return ds, held[0]

    def training_step(self, ctx: StepContext, batch: dict) -> dict[str, Any]:
        o = ctx.options
        loss = diffusion_loss(ctx.modules["model"], batch, self.noise_scheduler, "sample", ctx.generator("noise"),
                              o.reference_dropout, o.mask_weight,
                              model_kwargs={"reference_camera": batch["reference_camera"]})
        return {"loss": loss, "grad_norm": optimize(ctx, "model", loss)}

    def write_samples(self, path: Path, objects: TrainObjects, item: dict, cfg: TrainConfig) -> None:
        sample_grid(path, objects.emas["model"].model, item, seed=cfg.seed)

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: Head360Options) -> None:
        export_pipeline(folder, objects.emas["model"].model)
        (folder / STAGE_FILE).write_text(json.dumps({"stage": options.stage, "sequence": options.sequence}) + "\n")

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"model_config": objects.modules["model"].config.to_dict()}
