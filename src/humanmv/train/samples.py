"""Progress pictures and the final export of a training run.

`sample_grid` writes a PNG of three rows for one fixed held-out subject: the prior's coarse
views | the views the EMA model generates from them | the ground truth. Generation uses
`humanmv.pipelines.mvdiff.MVDiffPipeline` when it exists, else a one-step x0 prediction from
the coarse views noised to strength * T (the pipeline's 3D-aware start).
`export_final` writes the EMA weights in the pipeline folder format plus training.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from humanmv.io.atomic import atomic_output_dir, atomic_write_text
from humanmv.io.grid import save_grid


def noise_scheduler_for(model_config: Any):
    """diffusers' DDPMScheduler (training noise) from an MVDiffConfig, on the same noise
    schedule as the pipeline's samplers (config.scheduler_kwargs())."""
    from diffusers import DDPMScheduler

    if hasattr(model_config, "scheduler_kwargs"):
        return DDPMScheduler(**model_config.scheduler_kwargs())
    return DDPMScheduler(num_train_timesteps=model_config.num_train_timesteps,
                         prediction_type=model_config.prediction_type,
                         beta_schedule=getattr(model_config, "beta_schedule", "linear"))


def _have_pipeline() -> bool:
    try:
        return importlib.util.find_spec("humanmv.pipelines.mvdiff") is not None
    except (ImportError, ValueError):
        return False


def x0_from_prediction(pred: torch.Tensor, noisy: torch.Tensor, alpha_bar: torch.Tensor,
                       prediction_type: str) -> torch.Tensor:
    """The clean sample implied by a prediction of `prediction_type` at x_t = `noisy`
    (same shape); `alpha_bar` broadcasts to it."""
    if prediction_type == "sample":
        return pred
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    if prediction_type == "epsilon":
        return (noisy - s * pred) / a
    if prediction_type == "v_prediction":
        return a * noisy - s * pred
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


@torch.no_grad()
def one_step_views(model: nn.Module, item: dict, strength: float = 0.7, seed: int = 0) -> torch.Tensor:
    """One denoising step from the coarse views noised to strength * T: (N, 4, h, w) in [0, 1]."""
    cfg = model.config
    sched = noise_scheduler_for(cfg)
    device = next(model.parameters()).device
    coarse = item["coarse"][None].to(device)                        # (1, N, 4, h, w)
    t = torch.tensor([max(0, min(cfg.num_train_timesteps - 1, round(strength * cfg.num_train_timesteps) - 1))])
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(coarse.shape, generator=g).to(device)
    noisy = sched.add_noise(coarse * 2 - 1, noise, t.to(device))
    conditions = torch.cat([item["coarse"], item["normal"]], dim=-3)[None].to(device)
    pred = model(noisy, t.to(device), conditions, item["camera"][None].to(device),
                 item["reference"][None].to(device), item["reference_conditions"][None].to(device))
    alpha_bar = sched.alphas_cumprod[t].to(device).view(-1, 1, 1, 1, 1)
    x0 = x0_from_prediction(pred.float(), noisy, alpha_bar, cfg.prediction_type)
    return ((x0[0].clamp(-1, 1) + 1) / 2).cpu()


@torch.no_grad()
def generate_views(model: nn.Module, item: dict, seed: int = 0, steps: int = 20) -> torch.Tensor:
    """The EMA model's views of a dataset item: (N, 4, h, w) in [0, 1]."""
    if _have_pipeline():
        from humanmv.pipelines.mvdiff import MVDiffPipeline

        pipe = MVDiffPipeline(model)
        g = torch.Generator().manual_seed(seed)
        return pipe(item["reference"], item["reference_conditions"], item["coarse"], item["normal"],
                    item["camera"], num_inference_steps=steps, generator=g).float().cpu()
    return one_step_views(model, item, seed=seed)


def sample_grid(path: str | os.PathLike[str], model: nn.Module, item: dict, seed: int = 0) -> Path:
    """Write the (coarse | generated | target) grid, one column per view. Returns the path."""
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


def export_final(out: str | os.PathLike[str], ema_model: nn.Module, summary: dict[str, Any]) -> Path:
    """out/final/: the EMA weights in the pipeline folder format (MVDiffPipeline.save_pretrained
    when the pipeline exists, else model/ + scheduler/scheduler_config.json) and training.json.
    Replaces an older final/ atomically. Returns the folder."""
    final = Path(out) / "final"
    with atomic_output_dir(final, overwrite=True) as tmp:
        if _have_pipeline():
            from humanmv.pipelines.mvdiff import MVDiffPipeline

            was_training = ema_model.training
            MVDiffPipeline(ema_model).save_pretrained(tmp / "pipeline")
            ema_model.train(was_training)
            for p in (tmp / "pipeline").iterdir():
                os.replace(p, tmp / p.name)
            (tmp / "pipeline").rmdir()
        else:
            ema_model.save_pretrained(tmp / "model")
            noise_scheduler_for(ema_model.config).save_config(tmp / "scheduler")
        atomic_write_text(tmp / "training.json", json.dumps(summary, indent=1))
    return final
