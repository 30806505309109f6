"""Photo fits kept for reuse: running the same photo again with other views, size or generator
skips perception and the fit (seconds on a CPU, most of a small run), since neither depends on
them. Keyed by the photo's bytes, the fit mode asked for and the seed (the fit is deterministic
in all three); least recently used fits go first once their tensors exceed `max_bytes`."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np


def photo_key(path: Path, mode: str, seed: int) -> tuple[str, str, int]:
    """(sha256 of the file's bytes, mode, seed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest(), mode, int(seed)


def _nbytes(value, depth: int = 0) -> int:
    """Bytes held by the arrays and tensors in `value` (dataclasses, dicts, lists; 3 levels)."""
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return int(value.element_size() * value.numel())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if depth >= 3:
        return 0
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_nbytes(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(_nbytes(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v, depth + 1) for v in value)
    return 0


class FitCache:
    """Thread-safe LRU of `PhotoFit`s by `photo_key`. max_bytes: 0 keeps nothing."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fits: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self.hits = 0

    def get(self, key: tuple):
        with self._lock:
            found = self._fits.get(key)
            if found is None:
                return None
            self._fits.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: tuple, fit) -> None:
        size = _nbytes(fit)
        if size > self.max_bytes:
            return
        with self._lock:
            self._fits[key] = (fit, size)
            self._fits.move_to_end(key)
            while sum(s for _, s in self._fits.values()) > self.max_bytes:
                self._fits.popitem(last=False)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s for _, s in self._fits.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._fits)
