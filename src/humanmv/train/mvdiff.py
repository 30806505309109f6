"""Training loop of the mvdiff generator (issue 6) on accelerate.

    summary = train_mvdiff(TrainConfig(data="ds", out="runs/a", config="small", steps=20000))

Each step: S subjects (per process) x N target views; the clean views x0 (S, N, 4, h, w) in
[-1, 1] are noised by diffusers' DDPMScheduler at one uniform timestep per subject; the model
predicts config.prediction_type from (x_t, t, coarse+normal conditions, camera, reference); the
loss is the MSE to that target, pixels inside the union of the target and coarse masks weighing
1 + mask_weight. With probability reference_dropout a subject trains without its reference
(classifier-free guidance). AdamW, linear warm-up then cosine (or constant) LR, gradient
clipping, EMA after every step. Subjects, views, noise, timesteps and dropout come from
generators seeded by (seed, step, process), so resuming reproduces an uninterrupted run.

Run folder: checkpoint-<step>/ (see checkpoint.py), log.jsonl (one JSON line per log_every
steps), samples/step-<step>.png (see samples.py), final/ (EMA weights + training.json).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from humanmv.errors import ConfigError
from humanmv.train.batches import StepBatches, StepItems, check_data, ensure_prior_views, step_generator, step_seed
from humanmv.train.checkpoint import (latest_checkpoint, load_checkpoint, read_trainer_state,
                                      remove_stale_temporaries, save_checkpoint)
from humanmv.train.config import TrainConfig, resolve_mixed_precision
from humanmv.train.ema import EMA
from humanmv.train.samples import export_final, noise_scheduler_for, sample_grid


def diffusion_loss(model: nn.Module, batch: dict, noise_scheduler: Any, prediction_type: str,
                   generator: torch.Generator, reference_dropout: float = 0.0,
                   mask_weight: float = 0.0) -> torch.Tensor:
    """Weighted MSE of one batch (a scalar). batch: target/coarse (S, N, 4, h, w), normal
    (S, N, 3, h, w), camera (S, N, 12), reference (S, 4, h, w), reference_conditions
    (S, 7, h, w), all in [0, 1] on the model's device; `generator` (CPU) draws noise,
    timesteps and reference dropout."""
    target = batch["target"]
    S, device = target.shape[0], target.device
    x0 = target * 2 - 1
    noise = torch.randn(x0.shape, generator=generator).to(device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (S,), generator=generator)
    drop = torch.rand(S, generator=generator) < reference_dropout
    timesteps, drop = timesteps.to(device), drop.to(device)
    noisy = noise_scheduler.add_noise(x0, noise, timesteps)
    conditions = torch.cat([batch["coarse"], batch["normal"]], dim=-3)
    pred = model(noisy, timesteps, conditions, batch["camera"], batch["reference"],
                 batch["reference_conditions"], drop_reference=drop)
    if prediction_type == "epsilon":
        goal = noise
    elif prediction_type == "sample":
        goal = x0
    elif prediction_type == "v_prediction":
        goal = noise_scheduler.get_velocity(x0, noise, timesteps)
    else:
        raise ConfigError(f"unknown prediction_type {prediction_type!r}; use epsilon, sample or v_prediction")
    inside = (target[:, :, 3:4] > 0.5) | (batch["coarse"][:, :, 3:4] > 0.5)   # (S, N, 1, h, w)
    weight = 1.0 + mask_weight * inside.float()
    se = (pred.float() - goal.float()) ** 2
    return (weight * se).mean() / weight.mean()


def build_model(cfg: TrainConfig) -> nn.Module:
    """MultiViewUNet of `cfg.config` (ConfigError for an unknown name or a latent-space one)."""
    from humanmv.models.config import get_config
    from humanmv.models.mv_unet import MultiViewUNet

    model_config = get_config(cfg.config)
    if model_config.space != "pixel":
        raise ConfigError(f"--config {cfg.config} works in latent space, which needs a VAE the trainer "
                          "does not have yet; train a pixel-space config (tiny, small)")
    return MultiViewUNet(model_config)


def default_datasets(cfg: TrainConfig, size: int) -> tuple[Any, dict]:
    """(training MVDiffPairs, the fixed held-out item for samples: the first val subject, or
    the first training subject when the dataset has no val split)."""
    from humanmv.data.mvdiff_pairs import MVDiffPairs

    ds = MVDiffPairs(cfg.data, views=cfg.views, size=size, seed=cfg.seed, split="train")
    try:
        held = MVDiffPairs(cfg.data, views=cfg.views, size=size, seed=cfg.seed, split="val")
    except ConfigError:
        held = ds
    return ds, held[0]


def _prepare_out(cfg: TrainConfig, resume: bool, given: set[str]) -> tuple[TrainConfig, Optional[Path]]:
    out = Path(cfg.out)
    if not cfg.out:
        raise ConfigError("--out is required: the folder for checkpoints, samples and the final model")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    ckpt = latest_checkpoint(out) if resume else None
    if not resume and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out}/ already holds a training run; pass --resume to continue it or choose a new --out")
    if ckpt is not None:
        saved = TrainConfig.from_dict(read_trainer_state(ckpt)["config"])
        cfg = cfg.for_resume(saved, given)
    return cfg.validate(), ckpt


class _Log:
    """log.jsonl + console lines (main process only)."""

    def __init__(self, out: Path, enabled: bool, quiet: bool, keep_until: Optional[int] = None) -> None:
        self.path, self.enabled, self.quiet = out / "log.jsonl", enabled, quiet
        if enabled and keep_until is not None and self.path.is_file():  # a resumed run: forget the steps it will redo
            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    if json.loads(line).get("step", 0) <= keep_until:
                        kept.append(line)
                except (ValueError, AttributeError):  # a line cut short by a kill
                    pass
            self.path.write_text("".join(line + "\n" for line in kept))

    def say(self, text: str) -> None:
        if self.enabled and not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def record(self, entry: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(entry) + "\n")


def train_mvdiff(cfg: TrainConfig, resume: bool = False, given: Optional[set[str]] = None,
                 model_factory: Optional[Callable[[TrainConfig], nn.Module]] = None,
                 dataset: Any = None, sample_item: Optional[dict] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Train (or, with `resume`, continue from latest_checkpoint(cfg.out)) and return the
    training summary (also in out/final/training.json). `given` names the options the user set
    explicitly (for resume checks). `model_factory`, `dataset` (items as MVDiffPairs') and
    `sample_item` replace the defaults (tests); `progress(done, total)` reports prior fitting."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs
    from diffusers.optimization import get_scheduler

    cfg.validate()
    cfg, ckpt = _prepare_out(cfg, resume, given or set())
    if model_factory is None:
        from humanmv.models.config import get_config

        get_config(cfg.config)  # an unknown name fails before any slow work
    if dataset is None:
        check_data(cfg.data)  # in every process, before any of them waits for another
    cuda = torch.cuda.is_available()
    mixed = resolve_mixed_precision(cfg.mixed_precision, cuda, cuda and torch.cuda.is_bf16_supported())
    accelerator = Accelerator(mixed_precision=mixed, cpu=not cuda,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    main, rank = accelerator.is_main_process, accelerator.process_index
    out = Path(cfg.out)
    accelerator.wait_for_everyone()  # every process has checked --out before it is written
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
    log = _Log(out, main, cfg.quiet)  # log.jsonl is trimmed once the start step is known

    torch.manual_seed(cfg.seed)  # weight initialisation
    model = (model_factory or build_model)(cfg)
    model_config = model.config
    size = cfg.size or model_config.sample_size
    if dataset is None:
        if main:
            ensure_prior_views(cfg.data, progress=progress)
        accelerator.wait_for_everyone()
        dataset, default_item = default_datasets(cfg, size)
        sample_item = sample_item if sample_item is not None else default_item
    if sample_item is None:
        sample_item = dataset[0]
    if cfg.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    ema = EMA(model, cfg.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                  weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler("cosine" if cfg.lr_schedule == "cosine" else "constant_with_warmup",
                                 optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps)
    start = 0
    if ckpt is not None:
        start = int(load_checkpoint(ckpt, model, ema.model, optimizer, lr_scheduler)["step"])
        log.say(f"resuming from {ckpt} (step {start})")
    elif resume:
        log.say(f"{out}/ holds no checkpoint yet; starting at step 0")
    log = _Log(out, main, cfg.quiet, keep_until=start)
    if start >= cfg.steps:
        log.say(f"{ckpt} is at step {start} >= --steps {cfg.steps}; nothing to train")
    noise_scheduler = noise_scheduler_for(model_config)
    model, optimizer = accelerator.prepare(model, optimizer)  # the LR scheduler steps once per step
    ema.model.to(accelerator.device)
    loader = DataLoader(StepItems(dataset), batch_sampler=StepBatches(len(dataset), cfg.batch_size, cfg.seed, rank, start, cfg.steps),
                        num_workers=cfg.num_workers, persistent_workers=False)
    n_params = sum(p.numel() for p in model.parameters())
    log.say(f"training {cfg.config} ({n_params / 1e6:.2f} M parameters) on {len(dataset)} subjects, "
            f"{accelerator.num_processes} process(es) on {accelerator.device}, precision {mixed}, "
            f"steps {start + 1}..{cfg.steps} -> {out}")

    def state(loss: Optional[float]) -> dict[str, Any]:
        return {"config": cfg.to_dict(), "model_config": _config_dict(model_config), "loss": loss}

    t_start = time.perf_counter()
    window: list[float] = []
    last_loss: Optional[float] = None
    t_log, step = time.perf_counter(), start
    model.train()
    for batch in loader:
        step += 1
        torch.manual_seed(step_seed(cfg.seed, step, rank, "torch"))  # any randomness inside the model
        batch = {k: (v.to(accelerator.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        loss = diffusion_loss(model, batch, noise_scheduler, model_config.prediction_type,
                              step_generator(cfg.seed, step, rank, "noise"), cfg.reference_dropout, cfg.mask_weight)
        accelerator.backward(loss)
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(accelerator.unwrap_model(model), step)
        last_loss = float(accelerator.reduce(loss.detach(), "mean"))
        window.append(last_loss)
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            entry = {"step": step, "loss": sum(window) / len(window), "lr": lr_scheduler.get_last_lr()[0],
                     "grad_norm": float(grad_norm) if grad_norm is not None else None,
                     "seconds_per_step": (now - t_log) / len(window), "elapsed": now - t_start}
            log.record(entry)
            log.say(f"step {step}/{cfg.steps}  loss {entry['loss']:.4f}  lr {entry['lr']:.2e}  "
                    f"{entry['seconds_per_step']:.2f} s/step")
            window, t_log = [], now
        if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps) and main:
            sample_grid(out / "samples" / f"step-{step}.png", ema.model, sample_item, seed=cfg.seed)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            if main:
                save_checkpoint(out, step, accelerator.unwrap_model(model), ema.model, optimizer,
                                lr_scheduler, state(last_loss), keep=cfg.keep_checkpoints)
            accelerator.wait_for_everyone()
    seconds = time.perf_counter() - t_start
    summary = {"steps": cfg.steps, "steps_this_session": step - start, "seconds": seconds,
               "seconds_per_step": seconds / max(1, step - start), "final_loss": last_loss,
               "data": str(cfg.data), "subjects": len(dataset), "config": cfg.to_dict(),
               "model_config": _config_dict(model_config), "parameters": n_params,
               "hardware": _hardware(accelerator, mixed)}
    if main:
        export_final(out, ema.model, summary)
        log.say(f"done: {step} steps, final loss {last_loss if last_loss is None else round(last_loss, 4)}, "
                f"{seconds:.1f} s -> {out / 'final'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def _config_dict(model_config: Any) -> dict[str, Any]:
    return model_config.to_dict() if hasattr(model_config, "to_dict") else dict(vars(model_config))


def _hardware(accelerator: Any, mixed: str) -> dict[str, Any]:
    device = accelerator.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"device": str(device), "name": name, "processes": accelerator.num_processes,
            "mixed_precision": mixed, "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
