"""The run folder of a training run: which options and checkpoint a (resumed) run starts
from, and its log.

    OUT/checkpoint-<step>/   checkpoints (train.checkpoint)
    OUT/samples/step-<step>.png
    OUT/log.jsonl            one JSON line per `log_every` steps: {"step", <recipe scalars>, "lr", ...}
    OUT/final/               the recipe's export + training.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

from humanmv.errors import ConfigError
from humanmv.train.checkpoint import latest_checkpoint, read_trainer_state
from humanmv.train.config import Options, TrainConfig


def prepare_run(cfg: TrainConfig, options: Options, recipe_name: str, resume: bool,
                given: set[str]) -> tuple[TrainConfig, Options, Optional[Path]]:
    """(loop config, recipe options, checkpoint to resume from or None). Refuses a non-empty
    --out without `resume`; with it, keeps the newest checkpoint's math options of both kinds
    (a different explicitly `given` value is a ConfigError). Writes nothing."""
    out = Path(cfg.out)
    if not cfg.out:
        raise ConfigError("--out is required: the folder for checkpoints, samples and the final model")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out}/ already holds a training run; pass --resume to continue it or choose a new --out")
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        state = read_trainer_state(ckpt)
        if state["recipe"] != recipe_name:
            raise ConfigError(f"{out}/ holds a `humanmv train {state['recipe']}` run, not {recipe_name}; "
                              "resume it with that command or choose a new --out")
        cfg = cfg.for_resume(TrainConfig.from_dict(state["config"]), given, cfg.out)
        options = options.for_resume(type(options).from_dict(state["options"]), given, cfg.out)
    return cfg.validate(), options.validate(), ckpt


class RunLog:
    """log.jsonl + console lines (main process only). A resumed run first drops the lines of
    the steps after `keep_until`, which it is about to redo."""

    def __init__(self, out: Path, enabled: bool, quiet: bool, keep_until: Optional[int] = None) -> None:
        self.path, self.enabled, self.quiet = out / "log.jsonl", enabled, quiet
        if enabled and keep_until is not None and self.path.is_file():
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

    def record(self, entry: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(entry) + "\n")
