"""Checks of the dataset folder a recipe trains on (written by `humanmv synth`): fail in one
line, with the command that writes one, before any slow work."""

from __future__ import annotations

from pathlib import Path

from humanmv.errors import ConfigError


def check_data(root: str | Path) -> list[str]:
    """The finished subjects of a dataset folder; ConfigError (one line, with the command that
    writes one) when the folder, its manifest or its subjects are missing."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise ConfigError(f"--data {root} does not exist; write a dataset with "
                          f"`humanmv synth --preset body-train --subjects N --out {root}`")
    from humanmv.data.format import finished_subjects

    names = finished_subjects(root)
    if not names:
        raise ConfigError(f"{root}: no finished subjects; write some with "
                          f"`humanmv synth --preset body-train --subjects N --out {root}`")
    return names
