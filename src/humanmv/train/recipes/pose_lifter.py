"""The pose-lifter recipe: trains `models.pose_lifter.PoseLifter` on synthetic bodies.

    humanmv train pose-lifter --data runs/poses --out runs/lifter --steps 6000 --batch-size 8

Data: `--data` is a folder; its train.npz / val.npz pose sets (`data.lifting_poses`: the engine's
subjects and dynamic poses, from the train and val splits) are written on first use. Each step:
batch_size bodies x `views` random views each (cameras, 2D noise, portrait crops, occlusions:
`data.lifting_poses.ViewSampling`); the loss is the mean squared error of the predicted
camera-frame layout, plus `depth_weight` times that of its depth (z) alone — depth is what the
fit asks the lifter for. AdamW, warm-up then cosine LR; the loop keeps the EMA.

Samples: the fixed val body from 4 views, ground truth (green) and the EMA model (red), front
(x, y) and side (z, y) projections. Export: the EMA model (`PoseLifter.save_pretrained`) plus
val.json, its mean per-joint error and mean limb-depth error on the val set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from humanmv.errors import ConfigError
from humanmv.train.config import Options, TrainConfig
from humanmv.train.ema import EMA
from humanmv.train.recipe import (Recipe, StepContext, TrainObjects, make_lr_scheduler, make_optimizer,
                                  register_recipe)


@dataclass
class PoseLifterOptions(Options):
    """The recipe's own options: the model's size, views per body, and the pose sets' sizes."""

    width: int = 512
    blocks: int = 2
    dropout: float = 0.1
    views: int = 32
    train_poses: int = 30_000
    val_poses: int = 1_000
    depth_weight: float = 1.0

    def checks(self) -> list[tuple[bool, str]]:
        return [(self.width >= 8, f"--width must be at least 8, got {self.width}"),
                (self.blocks >= 0, f"--blocks must be >= 0, got {self.blocks}"),
                (0 <= self.dropout < 1, f"dropout must be within [0, 1), got {self.dropout}"),
                (self.views >= 1, f"--views must be at least 1, got {self.views}"),
                (self.train_poses >= 1, f"--train-poses must be at least 1, got {self.train_poses}"),
                (self.val_poses >= 1, f"--val-poses must be at least 1, got {self.val_poses}")]


def layout_losses(model: torch.nn.Module, batch: dict, depth_weight: float) -> dict[str, torch.Tensor]:
    """MSE of the predicted layout and of its depth; batch tensors (B, V, K, ...) or (N, K, ...)."""
    rays, seen, target = batch["rays"], batch["seen"], batch["target"]
    K = seen.shape[-1]
    pred = model(rays.reshape(-1, K, 2), seen.reshape(-1, K))
    target = target.reshape(-1, K, 3)
    layout = (pred - target).square().sum(-1).mean()
    depth = (pred[..., 2] - target[..., 2]).square().mean()
    return {"loss": layout + depth_weight * depth, "layout": layout, "depth": depth}


def pose_sets(data: str | Path, options: PoseLifterOptions,
              progress: Optional[Callable[[int, int], None]] = None) -> tuple[Path, Path]:
    """data/train.npz and data/val.npz, written when missing (or of another size)."""
    import numpy as np

    from humanmv.data.lifting_poses import write_pose_set

    root = Path(data)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, n in (("train", options.train_poses), ("val", options.val_poses)):
        path = root / f"{split}.npz"
        if path.is_file():
            with np.load(path) as f:
                ok = len(f["keypoints"]) == n
            if ok:
                paths.append(path)
                continue
        paths.append(write_pose_set(path, n, split, progress=progress))
    return paths[0], paths[1]


@register_recipe
class PoseLifterRecipe(Recipe):
    """`humanmv train pose-lifter` (see the module docstring)."""

    name = "pose-lifter"
    options_class = PoseLifterOptions

    def check(self, cfg: TrainConfig, options: PoseLifterOptions) -> None:
        if not cfg.data:
            raise ConfigError("--data is needed: a folder for the pose sets (written on first use)")
        if Path(cfg.data).exists() and not Path(cfg.data).is_dir():
            raise ConfigError(f"--data {cfg.data} is a file; give a folder for the pose sets")

    def prepare_data(self, cfg: TrainConfig, options: PoseLifterOptions,
                     progress: Optional[Callable[[int, int], None]] = None) -> None:
        pose_sets(cfg.data, options, progress)

    def build(self, cfg: TrainConfig, options: PoseLifterOptions) -> TrainObjects:
        from humanmv.models.pose_lifter import PoseLifter, PoseLifterConfig

        model = PoseLifter(PoseLifterConfig(width=options.width, blocks=options.blocks, dropout=options.dropout))
        optimizer = make_optimizer(model.parameters(), cfg)
        return TrainObjects(modules={"model": model}, optimizers={"model": optimizer},
                            schedulers={"model": make_lr_scheduler(optimizer, cfg)},
                            emas={"model": EMA(model, cfg.ema_decay)})

    def datasets(self, cfg: TrainConfig, options: PoseLifterOptions, objects: TrainObjects) -> tuple[Any, dict]:
        from humanmv.data.lifting_poses import PoseViews

        train, val = pose_sets(cfg.data, options)
        held = PoseViews(val, views=4, seed=cfg.seed + 1)[0]
        return PoseViews(train, views=options.views, seed=cfg.seed), held

    def training_step(self, ctx: StepContext, batch: dict) -> dict[str, Any]:
        model, optimizer = ctx.modules["model"], ctx.optimizers["model"]
        losses = layout_losses(model, batch, ctx.options.depth_weight)
        ctx.accelerator.backward(losses["loss"])
        grad_norm = ctx.accelerator.clip_grad_norm_(model.parameters(), ctx.cfg.max_grad_norm)
        optimizer.step()
        ctx.schedulers["model"].step()
        optimizer.zero_grad(set_to_none=True)
        return {**losses, "grad_norm": grad_norm}

    def write_samples(self, path: Path, objects: TrainObjects, item: dict, cfg: TrainConfig) -> None:
        from humanmv.io.images import save_png

        model = objects.emas["model"].model
        with torch.no_grad():
            pred = model(item["rays"], item["seen"])
        save_png(path, skeleton_sheet(item["target"], pred))

    def export(self, folder: Path, objects: TrainObjects, cfg: TrainConfig, options: PoseLifterOptions) -> None:
        from humanmv.data.lifting_poses import PoseViews

        model = objects.emas["model"].model
        model.save_pretrained(folder)
        val = PoseViews(pose_sets(cfg.data, options)[1], views=8, seed=cfg.seed + 2)
        (folder / "val.json").write_text(json.dumps(evaluate_lifter(model, val), indent=1))

    def describe(self, objects: TrainObjects) -> dict[str, Any]:
        return {"model_config": objects.modules["model"].config.to_dict()}


@torch.no_grad()
def evaluate_lifter(model: torch.nn.Module, views: Any) -> dict[str, float]:
    """Mean per-joint layout error and mean limb-depth error (|sin| of the limbs' out-of-plane
    angle, `body.pose_evidence.LIMBS`) over a PoseViews set, on seen and unseen joints."""
    from humanmv.body.pose_evidence import limb_depth_sines

    model.eval()
    joint, depth, n = 0.0, 0.0, 0
    names = views.keypoint_names
    for i in range(len(views)):
        item = views[i]
        pred = model(item["rays"], item["seen"])
        joint += float((pred - item["target"]).norm(dim=-1).mean())
        depth += float((limb_depth_sines(pred, names) - limb_depth_sines(item["target"], names)).abs().mean())
        n += 1
    return {"joint_error": round(joint / n, 5), "limb_depth_sine_error": round(depth / n, 5), "bodies": n}


def skeleton_sheet(target: torch.Tensor, pred: torch.Tensor, size: int = 160):
    """(H, W, 3) uint8: per view (V rows), front (x, y) and side (z, y) plots of the layouts
    (V, K, 3); ground truth green, prediction red."""
    import numpy as np
    from PIL import Image, ImageDraw

    from humanmv.body.pose_evidence import LIMBS
    from humanmv.perception.keypoints import COCO_KEYPOINT_NAMES as names

    V = target.shape[0]
    img = Image.new("RGB", (2 * size, V * size), "white")
    draw = ImageDraw.Draw(img)
    for v in range(V):
        for col, axes in enumerate(((0, 1), (2, 1))):
            for pts, colour in ((target[v], (40, 160, 60)), (pred[v], (210, 40, 40))):
                p = pts[:, list(axes)].numpy() * size * 0.3 + np.array([size * (col + 0.5), size * (v + 0.5)])
                for a, b in LIMBS:
                    ia, ib = names.index(a), names.index(b)
                    draw.line([tuple(p[ia]), tuple(p[ib])], fill=colour, width=2)
    return np.asarray(img)
