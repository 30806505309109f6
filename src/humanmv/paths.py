"""Where humanmv keeps what it builds once (caches) and the data files it ships."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def cache_dir() -> Path:
    """`$HUMANMV_CACHE`, default `~/.cache/humanmv`. Created on first use."""
    root = Path(os.environ.get("HUMANMV_CACHE", Path.home() / ".cache" / "humanmv")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def configure_third_party_caches() -> None:
    """Point Anny's and Warp's caches under ours before either package is imported.

    Anny parses its assets once (~45-90 s) into a ~0.8 GB cache; keeping it under
    `$HUMANMV_CACHE` lets `humanmv setup` build it once and every later process reuse it.
    An explicitly set `ANNY_CACHE_DIR` wins.
    """
    root = cache_dir()
    os.environ.setdefault("ANNY_CACHE_DIR", str(root / "anny"))
    os.environ.setdefault("WARP_CACHE_PATH", str(root / "warp"))
