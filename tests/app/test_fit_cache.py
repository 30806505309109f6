"""Photo fits kept for reuse: keyed by the photo's bytes (not its name), mode and seed; least
recently used fits go first once their tensors exceed the budget."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanmv.app.fit_cache import FitCache, photo_key


@dataclass
class _Fit:  # stands in for PhotoFit: the cache only weighs its arrays and tensors
    image: np.ndarray
    render: dict


def _fit(megabytes: int) -> _Fit:
    n = megabytes * 2**20 // 4  # float32 elements in all
    return _Fit(np.zeros(n // 2, np.float32), {"mask": torch.zeros(n // 2, dtype=torch.float32)})


def test_keys_follow_the_bytes_mode_and_seed(tmp_path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    a.write_bytes(b"same photo")
    b.write_bytes(b"same photo")
    c.write_bytes(b"another photo")
    assert photo_key(a, "auto", 0) == photo_key(b, "auto", 0)  # renamed upload: same fit
    assert photo_key(a, "auto", 0) != photo_key(c, "auto", 0)
    assert photo_key(a, "auto", 0) != photo_key(a, "head", 0)
    assert photo_key(a, "auto", 0) != photo_key(a, "auto", 1)


def test_least_recently_used_fits_go_past_the_budget():
    cache = FitCache(max_bytes=10 * 2**20)
    one, two, three = _fit(4), _fit(4), _fit(4)
    cache.put("one", one)
    cache.put("two", two)
    assert cache.get("one") is one  # "one" is now the most recently used
    cache.put("three", three)  # 12 MB > 10 MB: "two" goes
    assert cache.get("two") is None and cache.get("one") is one and cache.get("three") is three
    assert cache.nbytes == 8 * 2**20 and len(cache) == 2
    cache.put("huge", _fit(11))  # larger than the whole budget: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 2
    assert FitCache(0).get("x") is None
    nothing = FitCache(0)
    nothing.put("one", one)
    assert len(nothing) == 0
