"""The generic training loop on accelerate; a `Recipe` (train.recipe) supplies the model.

    summary = run_training("mvdiff", TrainConfig(data="ds", out="runs/a", steps=20000),
                           MVDiffOptions(config="small"))

What the loop does, for every recipe:
- run folder: refuses a non-empty --out without `resume`; with it, continues from the newest
  checkpoint with that checkpoint's math options (train.run_folder); removes half-written
  checkpoints a killed run left;
- accelerate: one process per device, DDP for the modules with trainable parameters, mixed
  precision only on a GPU (resolve_mixed_precision);
- determinism: weights initialised from cfg.seed; each step's items come from `StepBatches`
  and torch is reseeded from (seed, step, process) before it, so a resumed run repeats exactly
  the steps of an uninterrupted one;
- after each recipe step, every EMA the recipe declared is updated; scalars are averaged over
  processes and logged (log.jsonl, trimmed on resume); samples/step-<step>.png every
  sample_every steps; checkpoint-<step>/ every checkpoint_every steps and at the end;
- final/: the recipe's export + training.json (the summary this function returns).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch.utils.data import DataLoader

from humanmv.io.atomic import atomic_output_dir, atomic_write_text
from humanmv.train.batches import StepBatches, StepItems, step_seed
from humanmv.train.checkpoint import load_checkpoint, remove_stale_temporaries, save_checkpoint
from humanmv.train.config import Options, TrainConfig, resolve_mixed_precision
from humanmv.train.recipe import Recipe, StepContext, TrainObjects, get_recipe
from humanmv.train.run_folder import RunLog, prepare_run


def run_training(recipe: Recipe | str, cfg: TrainConfig, options: Optional[Options] = None,
                 resume: bool = False, given: Optional[set[str]] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Train `recipe` (a Recipe or a registered name) or, with `resume`, continue from the
    newest checkpoint in cfg.out; returns the summary (also out/final/training.json).
    `options`: the recipe's options (default: its options_class()); `given`: the option names
    (of either kind) the user set explicitly, for the resume checks; `progress(done, total)`
    is handed to the recipe's data preparation."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, send_to_device

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    options = recipe.options_class() if options is None else options
    if not isinstance(options, recipe.options_class):
        raise TypeError(f"recipe {recipe.name!r} takes {recipe.options_class.__name__}, got {type(options).__name__}")
    cfg.validate()
    options.validate()
    cfg, options, ckpt = prepare_run(cfg, options, recipe.name, resume, given or set())
    recipe.check(cfg, options)
    cuda = torch.cuda.is_available()
    mixed = resolve_mixed_precision(cfg.mixed_precision, cuda, cuda and torch.cuda.is_bf16_supported())
    # Unused parameters are normal here (a dropped reference, a module one half of a step skips).
    accelerator = Accelerator(mixed_precision=mixed, cpu=not cuda,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    main, rank = accelerator.is_main_process, accelerator.process_index
    out = Path(cfg.out)
    accelerator.wait_for_everyone()  # every process has checked --out before it is written
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        recipe.prepare_data(cfg, options, progress)
    accelerator.wait_for_everyone()

    torch.manual_seed(cfg.seed)  # weight initialisation
    objects = recipe.build(cfg, options)
    trained = objects.trained()
    if cfg.gradient_checkpointing:
        for module in trained.values():
            if hasattr(module, "enable_gradient_checkpointing"):
                module.enable_gradient_checkpointing()
    dataset, sample_item = recipe.datasets(cfg, options, objects)
    start = int(load_checkpoint(ckpt, objects)["step"]) if ckpt is not None else 0
    log = RunLog(out, main, cfg.quiet, keep_until=start)
    if ckpt is not None:
        log.say(f"resuming from {ckpt} (step {start})")
    elif resume:
        log.say(f"{out}/ holds no checkpoint yet; starting at step 0")
    if start >= cfg.steps:
        log.say(f"{ckpt} is at step {start} >= --steps {cfg.steps}; nothing to train")

    # The LR schedulers stay unprepared: accelerate's would step once per process per step.
    modules = {k: accelerator.prepare(m) if k in trained else m.to(accelerator.device) for k, m in objects.modules.items()}
    optimizers = {k: accelerator.prepare(o) for k, o in objects.optimizers.items()}
    for ema in objects.emas.values():
        ema.model.to(accelerator.device)
    loader = DataLoader(StepItems(dataset), batch_sampler=StepBatches(len(dataset), cfg.batch_size, cfg.seed, rank, start, cfg.steps),
                        num_workers=cfg.num_workers, persistent_workers=False)
    sizes = {k: sum(p.numel() for p in m.parameters()) for k, m in objects.modules.items()}
    log.say(f"training {recipe.name} ({', '.join(f'{k} {n / 1e6:.3g} M' for k, n in sizes.items())} parameters) "
            f"on {len(dataset)} items, {accelerator.num_processes} process(es) on {accelerator.device}, "
            f"precision {mixed}, steps {start + 1}..{cfg.steps} -> {out}")

    def state(last: dict[str, float]) -> dict[str, Any]:
        return {"recipe": recipe.name, "config": cfg.to_dict(), "options": options.to_dict(),
                **recipe.describe(objects), "losses": last}

    ctx = StepContext(step=start, rank=rank, cfg=cfg, options=options, accelerator=accelerator,
                      modules=modules, optimizers=optimizers, schedulers=objects.schedulers)
    for name in trained:
        modules[name].train()
    t_start = t_log = time.perf_counter()
    window: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    step = step_log = start
    for batch in loader:
        step += 1
        ctx.step = step
        torch.manual_seed(step_seed(cfg.seed, step, rank, "torch"))  # any randomness inside the modules
        last = _mean_over_processes(accelerator, recipe.training_step(ctx, send_to_device(batch, accelerator.device)))
        for name, ema in objects.emas.items():
            ema.update(objects.modules[name], step)
        for k, v in last.items():
            window.setdefault(k, []).append(v)
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            means = {k: sum(w) / len(w) for k, w in window.items()}
            entry = {"step": step, **means, **_learning_rates(objects),
                     "seconds_per_step": (now - t_log) / (step - step_log), "elapsed": now - t_start}
            log.record(entry)
            log.say(f"step {step}/{cfg.steps}  " + "  ".join(f"{k} {v:.4f}" for k, v in means.items())
                    + "".join(f"  {k} {v:.2e}" for k, v in _learning_rates(objects).items())
                    + f"  {entry['seconds_per_step']:.2f} s/step")
            window, t_log, step_log = {}, now, step
        if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps) and main:
            (out / "samples").mkdir(exist_ok=True)
            recipe.write_samples(out / "samples" / f"step-{step}.png", objects, sample_item, cfg)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            if main:
                save_checkpoint(out, step, objects, state(last), keep=cfg.keep_checkpoints)
            accelerator.wait_for_everyone()
    seconds = time.perf_counter() - t_start
    summary = {"recipe": recipe.name, "steps": cfg.steps, "steps_this_session": step - start, "seconds": seconds,
               "seconds_per_step": seconds / max(1, step - start), "final_loss": last.get("loss"),
               "final_losses": last, "data": str(cfg.data), "items": len(dataset), "config": cfg.to_dict(),
               "options": options.to_dict(), **recipe.describe(objects), "parameters": sum(sizes.values()),
               "hardware": _hardware(accelerator, mixed)}
    if main:
        with atomic_output_dir(out / "final", overwrite=True) as tmp:
            recipe.export(tmp, objects, cfg, options)
            atomic_write_text(tmp / "training.json", json.dumps(summary, indent=1))
        log.say(f"done: {step} steps, " + "".join(f"{k} {v:.4f}, " for k, v in last.items())
                + f"{seconds:.1f} s -> {out / 'final'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def _mean_over_processes(accelerator: Any, scalars: dict[str, Any]) -> dict[str, float]:
    """The step's scalars averaged over processes: one collective for all of them (every
    process returns the same keys in the same order). None values (e.g. no gradient norm)
    are left out."""
    names = [k for k, v in scalars.items() if v is not None]
    if not names:
        return {}
    stacked = torch.stack([torch.as_tensor(scalars[k]).detach().float().reshape(()).to(accelerator.device) for k in names])
    return dict(zip(names, accelerator.reduce(stacked, "mean").tolist()))


def _learning_rates(objects: TrainObjects) -> dict[str, float]:
    """{"lr": ...} for one LR scheduler, {"lr_<name>": ...} for several."""
    lrs = {k: s.get_last_lr()[0] for k, s in objects.schedulers.items()}
    return {"lr": next(iter(lrs.values()))} if len(lrs) == 1 else {f"lr_{k}": v for k, v in lrs.items()}


def _hardware(accelerator: Any, mixed: str) -> dict[str, Any]:
    device = accelerator.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"device": str(device), "name": name, "processes": accelerator.num_processes,
            "mixed_precision": mixed, "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
