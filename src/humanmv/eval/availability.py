"""A metric's result: a value, or `unavailable` with the reason why.

A benchmark never drops a metric it could not compute and never fills in a placeholder: a
metric whose network weights were not given, or which had nothing to be computed on (no face in
any view, an empty mask), is a `Metric` with `value=None` and a one-line `reason` saying what
to do about it. Reports print the reason next to the metric's name.

    m = Metric.ok("PSNR", 27.1, count=16)         # computed on 16 views
    m = needs_weights("LPIPS", None) or Metric.ok("LPIPS", compute_lpips())
    m.format()  ->  "n/a (LPIPS weights not given: pass --lpips-weights PATH to ...)"

The command-line flags named in the reasons (`WEIGHT_FLAGS`) are the ones the benchmark runner
is expected to offer; they are defined here so that every message names the same flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from typing import Any

from humanmv.errors import HumanMVError

WEIGHT_FLAGS: dict[str, tuple[str, str]] = {
    "LPIPS": ("--lpips-weights", "the AlexNet trunk + heads files"),
    "FID": ("--inception-weights", "the Inception-v3 file (e.g. pt_inception-2015-12-05-6726825d.pth)"),
    "KID": ("--inception-weights", "the Inception-v3 file (e.g. pt_inception-2015-12-05-6726825d.pth)"),
    "CLIP": ("--clip-weights", "the CLIP ViT-B/32 image-encoder file"),
}
"""Metric name -> (command-line flag, what the flag's file is), for `needs_weights`."""


class MetricUnavailableError(HumanMVError):
    """`Metric.get()` was called on a metric that could not be computed; the message says why."""


@dataclass(frozen=True)
class Metric:
    """One metric's result.

    name:   the metric's display name ("PSNR", "I2OID", ...).
    value:  the number (may be inf, e.g. PSNR of identical images), or None when unavailable.
    reason: None when available; otherwise one line saying why not and what to do.
    count:  how many items the value was computed on (views, pairs, images), when known.
    """

    name: str
    value: float | None = None
    reason: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError(f"Metric {self.name!r} needs exactly one of value and reason")
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))
            if math.isnan(self.value):
                raise ValueError(
                    f"Metric {self.name!r} got NaN: use Metric.unavailable(name, reason) instead"
                )

    @classmethod
    def ok(cls, name: str, value: float, count: int | None = None) -> Metric:
        """An available metric; `value` must not be NaN (say why with `unavailable` instead)."""
        return cls(name=name, value=float(value), count=count)

    @classmethod
    def unavailable(cls, name: str, reason: str, count: int | None = None) -> Metric:
        """A metric that could not be computed, and the one-line reason."""
        if not reason.strip():
            raise ValueError("an unavailable metric needs a reason")
        return cls(name=name, reason=" ".join(reason.split()), count=count)

    @property
    def available(self) -> bool:
        return self.value is not None

    def get(self) -> float:
        """The value; raises `MetricUnavailableError` (with the reason) when unavailable."""
        if self.value is None:
            raise MetricUnavailableError(f"{self.name} is unavailable: {self.reason}")
        return self.value

    def format(self, digits: int = 4) -> str:
        """`"27.1300"`, `"inf"`, or `"n/a (reason)"`."""
        if self.value is None:
            return f"n/a ({self.reason})"
        if math.isinf(self.value):
            return "inf" if self.value > 0 else "-inf"
        return f"{self.value:.{digits}f}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"name", "value", "available", "reason", "count"}; inf is written "inf"."""
        value: float | str | None = self.value
        if value is not None and math.isinf(value):
            value = "inf" if value > 0 else "-inf"
        return {
            "name": self.name,
            "value": value,
            "available": self.available,
            "reason": self.reason,
            "count": self.count,
        }


def weights_reason(name: str, flag: str | None = None, what: str | None = None) -> str:
    """The standard reason for a metric whose network weights were not given.

    >>> weights_reason("LPIPS")
    'LPIPS weights not given: pass --lpips-weights PATH to the AlexNet trunk + heads files'
    """
    default_flag, default_what = WEIGHT_FLAGS.get(name, (f"--{name.lower()}-weights", "the weights file"))
    return f"{name} weights not given: pass {flag or default_flag} PATH to {what or default_what}"


def needs_weights(
    name: str,
    path: str | PathLike[str] | None,
    flag: str | None = None,
    what: str | None = None,
) -> Metric | None:
    """`Metric.unavailable(name, weights_reason(...))` when `path` is None, else None.

    Use as `needs_weights("FID", args.inception_weights) or Metric.ok("FID", compute())`.
    A path that is given but wrong is not "unavailable": the loaders raise `CheckpointError`.
    """
    if path is None:
        return Metric.unavailable(name, weights_reason(name, flag, what))
    return None
