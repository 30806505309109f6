"""Small, import-light choices shared by the CLI and the pipelines (no torch import here, so
the CLI can use them before torch is loaded)."""

from __future__ import annotations

from typing import Literal

FitMode = Literal["auto", "body", "head"]
FIT_MODES = ("auto", "body", "head")


def perception_options(mode: str, name: str) -> dict:
    """`Perceiver.perceive` keyword arguments for fitting in `mode` (no identity embedding:
    fitting does not use it and dlib's models take ~1.2 s to load)."""
    return {"need_face": mode == "head", "name": name, "need_identity": False}
