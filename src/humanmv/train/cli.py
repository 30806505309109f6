"""`humanmv train ...`: the training commands (registered on the main app by humanmv.cli).
Only parses options and calls humanmv.train; imports torch lazily, so `humanmv --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from humanmv.train.config import Options, TrainConfig

train_app = typer.Typer(no_args_is_help=True, help="Train the learned models (view generators, the face stage, the head360 stages, the pose lifter, 3DHumanGAN).")


@train_app.command("mvdiff")
def train_mvdiff_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder written by `humanmv synth` (prior views are fitted if missing)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint-<step>/, samples/, log.jsonl, final/."),
    config: Optional[str] = typer.Option(None, "--config", help="Model config: tiny or small (default small)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default 10000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Subjects per step and process (default 1)."),
    views: Optional[int] = typer.Option(None, "--views", help="Target views per subject (default 6)."),
    size: Optional[int] = typer.Option(None, "--size", help="View size in pixels (default: the model config's)."),
    colour_augment: Optional[float] = typer.Option(None, "--colour-augment", help="Share of subjects trained with one random colour transform on photo, conditions and targets alike (default 0.5)."),
    skirt_share: Optional[float] = typer.Option(None, "--skirt-share", help="At most this share of training subjects in a skirt or dress (the engine draws half; default: no cap)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this exported model (a run's final/, the shipped weights) instead of random weights."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 2e-4)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps (default 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (default 1000)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample grids, 0 = never (default 1000)."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between log lines (default 10)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run; default 0)."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="Data loader worker processes (default 0)."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="auto, no, fp16 or bf16 (default auto: half on a GPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing", help="Trade compute for memory."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Train the mvdiff multi-view generator (several processes:
    `accelerate launch -m humanmv.train mvdiff ...`)."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.mvdiff import MVDiffOptions

    loop = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup_steps": warmup_steps,
            "checkpoint_every": checkpoint_every, "sample_every": sample_every, "log_every": log_every,
            "seed": seed, "num_workers": num_workers, "mixed_precision": mixed_precision}
    own = {"config": config, "views": views, "size": size, "colour_augment": colour_augment,
           "skirt_share": skirt_share, "init_from": None if init_from is None else str(init_from)}
    cfg = TrainConfig(data=str(data), out=str(out), quiet=quiet, gradient_checkpointing=gradient_checkpointing,
                      **{k: v for k, v in loop.items() if v is not None})
    options = MVDiffOptions(**{k: v for k, v in own.items() if v is not None})
    _train("mvdiff", cfg, options, resume, {k for k, v in {**loop, **own}.items() if v is not None})


@train_app.command("pose-lifter")
def train_pose_lifter_command(
    data: Path = typer.Option(..., "--data", help="Folder of the pose sets (train.npz, val.npz; written on first use)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint-<step>/, samples/, log.jsonl, final/."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default 10000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Bodies per step and process, each seen from --views cameras (default 1)."),
    views: Optional[int] = typer.Option(None, "--views", help="Random views per body (default 32)."),
    width: Optional[int] = typer.Option(None, "--width", help="Width of the MLP (default 512)."),
    blocks: Optional[int] = typer.Option(None, "--blocks", help="Residual blocks (default 2)."),
    train_poses: Optional[int] = typer.Option(None, "--train-poses", help="Bodies in the training pose set (default 30000)."),
    val_poses: Optional[int] = typer.Option(None, "--val-poses", help="Bodies in the validation pose set (default 1000)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 2e-4)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps (default 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (default 1000)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample sheets, 0 = never (default 1000)."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between log lines (default 10)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run; default 0)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Train the 2D-to-3D pose lifter the body fit takes limb depth from."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.pose_lifter import PoseLifterOptions

    loop = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup_steps": warmup_steps,
            "checkpoint_every": checkpoint_every, "sample_every": sample_every, "log_every": log_every,
            "seed": seed}
    own = {"views": views, "width": width, "blocks": blocks, "train_poses": train_poses, "val_poses": val_poses}
    cfg = TrainConfig(data=str(data), out=str(out), quiet=quiet, **{k: v for k, v in loop.items() if v is not None})
    options = PoseLifterOptions(**{k: v for k, v in own.items() if v is not None})
    _train("pose-lifter", cfg, options, resume, {k for k, v in {**loop, **own}.items() if v is not None})


@train_app.command("gan3d")
def train_gan3d_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder written by `humanmv synth` (e.g. --preset body-train-clothed)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint-<step>/, samples/, log.jsonl, final/."),
    config: Optional[str] = typer.Option(None, "--config", help="Model config: tiny, small or paper (default small)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default 10000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Views per step and process (default 1)."),
    exclude_pose_family: Optional[list[str]] = typer.Option(None, "--exclude-pose-family", help="Hold this pose family (a-pose, t-pose, standing, walking, random) out of training; repeatable."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Ablation: 1x1 (the paper's) or upsampling (default: the config's)."),
    norm: Optional[str] = typer.Option(None, "--norm", help="Ablation: batch (the paper's) or instance (default: the config's)."),
    disc_loss: Optional[str] = typer.Option(None, "--disc-loss", help="Ablation: segmentation (the paper's) or binary (default: the config's)."),
    r1_gamma: Optional[float] = typer.Option(None, "--r1-gamma", help="R1 penalty weight on real images, 0 = off (default 1)."),
    r1_every: Optional[int] = typer.Option(None, "--r1-every", help="Lazy R1: apply it every this many steps (default 4)."),
    d_lr_ratio: Optional[float] = typer.Option(None, "--d-lr-ratio", help="Discriminator learning rate over the generator's (default 2)."),
    truncation: Optional[float] = typer.Option(None, "--truncation", help="Truncation psi of the sample grids (default 0.7)."),
    mode_seeking: Optional[float] = typer.Option(None, "--mode-seeking", help="Weight of the mode-seeking term that keeps z from being ignored, 0 = off (default 1)."),
    calibration_views: Optional[int] = typer.Option(None, "--calibration-views", help="Training views the exported generator's batch-norm statistics are recomputed on (default 128)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of the generator (default 2e-4)."),
    lr_schedule: str = typer.Option("constant", "--lr-schedule", help="After the warm-up: constant (GAN practice; a checkpoint at step N is then a run of N steps) or cosine."),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="Decay of the generator's EMA, the exported model (default 0.999)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps (default 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (default 1000)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample grids, 0 = never (default 1000)."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between log lines (default 10)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run; default 0)."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="Data loader worker processes (default 0)."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="auto, no, fp16 or bf16 (default auto: half on a GPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Train the 3DHumanGAN generator on single views of synthetic subjects (several processes:
    `accelerate launch -m humanmv.train gan3d ...`)."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.gan3d import GAN3DOptions

    loop = {"steps": steps, "batch_size": batch_size, "lr": lr, "lr_schedule": lr_schedule, "ema_decay": ema_decay,
            "warmup_steps": warmup_steps, "checkpoint_every": checkpoint_every, "sample_every": sample_every,
            "log_every": log_every, "seed": seed, "num_workers": num_workers, "mixed_precision": mixed_precision}
    own = {"config": config, "backbone": backbone, "norm": norm, "disc_loss": disc_loss, "r1_gamma": r1_gamma,
           "r1_every": r1_every, "d_lr_ratio": d_lr_ratio, "truncation": truncation,
           "mode_seeking": mode_seeking, "calibration_views": calibration_views,
           "exclude_pose_families": tuple(exclude_pose_family) if exclude_pose_family else None}
    cfg = TrainConfig(data=str(data), out=str(out), quiet=quiet, **{k: v for k, v in loop.items() if v is not None})
    options = GAN3DOptions(**{k: v for k, v in own.items() if v is not None})
    _train("gan3d", cfg, options, resume, {k for k, v in {**loop, **own}.items() if v is not None})


@train_app.command("face")
def train_face_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder written by `humanmv synth` (e.g. --preset head-train-haired)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint-<step>/, samples/, log.jsonl, final/."),
    config: Optional[str] = typer.Option(None, "--config", help="Model config: face-tiny or face-small (default face-small)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default 10000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Subjects per step and process (default 1)."),
    views: Optional[int] = typer.Option(None, "--views", help="Face crops per subject (default 4)."),
    identity_dropout: Optional[float] = typer.Option(None, "--identity-dropout", help="Share of subjects trained without identity tokens (default 0.15)."),
    shape_dropout: Optional[float] = typer.Option(None, "--shape-dropout", help="Share of subjects trained without the 3D face-structure stream (default 0.15)."),
    colour_augment: Optional[float] = typer.Option(None, "--colour-augment", help="Share of subjects with one colour transform on reference and targets alike (default 0.5)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 2e-4)."),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="Decay of the model's EMA, the exported model (default 0.999)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps (default 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (default 1000)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample grids, 0 = never (default 1000)."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between log lines (default 10)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run; default 0)."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="Data loader worker processes (default 0)."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="auto, no, fp16 or bf16 (default auto: half on a GPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Train the face stage (mvdiff's face refiner) on face crops of synthetic portraits."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.face import FaceOptions

    loop = {"steps": steps, "batch_size": batch_size, "lr": lr, "ema_decay": ema_decay, "warmup_steps": warmup_steps,
            "checkpoint_every": checkpoint_every, "sample_every": sample_every, "log_every": log_every,
            "seed": seed, "num_workers": num_workers, "mixed_precision": mixed_precision}
    own = {"config": config, "views": views, "identity_dropout": identity_dropout, "shape_dropout": shape_dropout,
           "colour_augment": colour_augment}
    cfg = TrainConfig(data=str(data), out=str(out), quiet=quiet, **{k: v for k, v in loop.items() if v is not None})
    options = FaceOptions(**{k: v for k, v in own.items() if v is not None})
    _train("face", cfg, options, resume, {k for k, v in {**loop, **own}.items() if v is not None})


@train_app.command("head360")
def train_head360_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder written by `humanmv synth --preset head-train-haired` (head-mode prior views are fitted if missing)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint-<step>/, samples/, log.jsonl, final/."),
    stage: Optional[str] = typer.Option(None, "--stage", help="back (the back-view generator), main (the multi-view model) or consistency (view-sequence blocks on a main model) (default main)."),
    config: Optional[str] = typer.Option(None, "--config", help="Model config when not --init-from: tiny or small (default small)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this exported model (a run's final/, weights/mvdiff-small); consistency: the main model, required."),
    views: Optional[int] = typer.Option(None, "--views", help="Target views per subject (default 8; back: 1)."),
    sequence: Optional[str] = typer.Option(None, "--sequence", help="continuous (runs of neighbouring views) or random (the ablation) (default continuous)."),
    window: Optional[int] = typer.Option(None, "--window", help="consistency: each view attends to this many neighbours, odd; 0 = all views of a pass (default 0)."),
    colour_augment: Optional[float] = typer.Option(None, "--colour-augment", help="Share of subjects with one colour transform on input and targets alike (default 0.8 for back, 0.5 otherwise)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default 10000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Subjects per step and process (default 1)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 2e-4)."),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="Decay of the model's EMA, the exported model (default 0.999)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps (default 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints (default 1000)."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Steps between sample grids, 0 = never (default 1000)."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Steps between log lines (default 10)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run; default 0)."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="Data loader worker processes (default 0)."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="auto, no, fp16 or bf16 (default auto: half on a GPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Train a stage of the head360 generator (back view, multi-view, view consistency) on synthetic portraits."""
    from humanmv.train.config import TrainConfig
    from humanmv.train.recipes.head360 import Head360Options

    loop = {"steps": steps, "batch_size": batch_size, "lr": lr, "ema_decay": ema_decay, "warmup_steps": warmup_steps,
            "checkpoint_every": checkpoint_every, "sample_every": sample_every, "log_every": log_every,
            "seed": seed, "num_workers": num_workers, "mixed_precision": mixed_precision}
    own = {"stage": stage, "config": config, "init_from": None if init_from is None else str(init_from),
           "views": views, "sequence": sequence, "window": window, "colour_augment": colour_augment}
    cfg = TrainConfig(data=str(data), out=str(out), quiet=quiet, **{k: v for k, v in loop.items() if v is not None})
    options = Head360Options(**{k: v for k, v in own.items() if v is not None})
    _train("head360", cfg, options, resume, {k for k, v in {**loop, **own}.items() if v is not None})


def _train(recipe: str, cfg: "TrainConfig", options: "Options", resume: bool, given: set[str]) -> None:
    """Run a recipe with a progress bar for its data preparation; print the outcome."""
    from humanmv.log import setup_logging

    setup_logging(cfg.quiet)
    cfg.validate()
    options.validate()
    from rich.progress import Progress

    from humanmv.train.loop import run_training

    with Progress(disable=cfg.quiet, transient=True) as bar:
        task = bar.add_task("preparing the training data", total=None, visible=False)
        summary = run_training(recipe, cfg, options, resume=resume, given=given,
                               progress=lambda done, total: bar.update(task, completed=done, total=total, visible=True))
    if not cfg.quiet:
        losses = "  ".join(f"{k} {v:.4f}" for k, v in summary["final_losses"].items())
        print(f"trained to step {summary['steps']} in {summary['seconds']:.1f} s ({losses or 'no step run'}) "
              f"-> {Path(cfg.out) / 'final'}")
