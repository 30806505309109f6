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


MAX_VIEWS = 360
VIEW_SIZES = (64, 2048)


def check_view_options(views: int | None, cameras: object | None, size: int | None) -> None:
    """ConfigError for view counts and sizes a user can get wrong (checked before any work).
    `cameras`: custom Cameras, or None when `views` orbit views are asked for."""
    from humanmv.errors import ConfigError

    if size is not None and not VIEW_SIZES[0] <= size <= VIEW_SIZES[1]:
        raise ConfigError(f"--size must be within {VIEW_SIZES[0]}..{VIEW_SIZES[1]} pixels, got {size}")
    if cameras is None and (views is None or not 1 <= int(views) <= MAX_VIEWS):
        raise ConfigError(f"--views must be within 1..{MAX_VIEWS}, got {views}")
