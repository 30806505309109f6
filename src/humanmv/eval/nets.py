"""The metric networks a bench run was given (`--lpips-weights`, `--inception-weights`,
`--clip-weights`), plus ST-LPIPS from the cache (`humanmv setup` installs its weights), loaded
once before any work, and the per-image numbers computed with them.

A flag that is not given leaves its network None: the reports then say "unavailable: pass
--lpips-weights ..." (`availability.weights_reason`). A flag that is given but wrong (missing
file, wrong keys or shapes) is a one-line `ConfigError` naming the flag and the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from humanmv.errors import CheckpointError, ConfigError
from humanmv.eval.availability import WEIGHT_FLAGS


@dataclass
class MetricNets:
    """lpips: `LPIPS` or None; st_lpips: `LPIPS("alex-st")` or None; inception:
    `InceptionV3Features` or None; clip: `CLIPImageEncoder` or None."""

    lpips: Any = None
    inception: Any = None
    clip: Any = None
    st_lpips: Any = None

    def st_lpips_features(self, views: torch.Tensor) -> np.ndarray | None:
        """(C, 1152) ST-LPIPS AlexNet trunk features of (C, 3, H, W) views (`eval.feature_distances`),
        None without ST-LPIPS weights: the Fréchet distance reported while Inception is missing."""
        if self.st_lpips is None:
            return None
        from humanmv.eval.feature_distances import lpips_features

        with torch.no_grad():
            return lpips_features(self.st_lpips, views).numpy()

    def st_lpips_per_view(self, pred: torch.Tensor, target: torch.Tensor) -> list[float] | None:
        """(V, 3, H, W) pairs in [0, 1] -> V ST-LPIPS (AlexNet) distances, or None without weights."""
        if self.st_lpips is None:
            return None
        from humanmv.eval.lpips import lpips_distance

        return lpips_distance(self.st_lpips, pred, target).tolist()

    def lpips_per_view(self, pred: torch.Tensor, target: torch.Tensor) -> list[float] | None:
        """(V, 3, H, W) pairs in [0, 1] -> V LPIPS distances, or None without weights."""
        if self.lpips is None:
            return None
        from humanmv.eval.lpips import lpips_distance

        return lpips_distance(self.lpips, pred, target).tolist()

    def features(self, images: torch.Tensor) -> np.ndarray | None:
        """(V, 3, H, W) in [0, 1] -> (V, 2048) Inception pool3 features, or None."""
        if self.inception is None:
            return None
        from humanmv.eval.inception import inception_features

        return inception_features(self.inception, images).double().numpy()

    def clip_embeddings(self, images: torch.Tensor) -> torch.Tensor | None:
        """(V, 3, H, W) in [0, 1] -> (V, D) CLIP image embeddings, or None."""
        return None if self.clip is None else self.clip.encode(images)


def clip_to_reference(embeddings: torch.Tensor, reference: torch.Tensor) -> list[float]:
    """Cosine of each of (V, D) embeddings with one (1, D) reference (CLIP image similarity)."""
    return torch.nn.functional.cosine_similarity(embeddings, reference.expand_as(embeddings), dim=1).tolist()


def _load(flag: str, load, *paths: Path) -> Any:
    for p in paths:
        if not Path(p).expanduser().is_file():
            raise ConfigError(f"{flag} {p}: file not found")
    try:
        return load(*paths)
    except CheckpointError as err:
        raise ConfigError(f"{flag} {' '.join(str(p) for p in paths)}: {err}") from err


def load_metric_nets(lpips: Sequence[Path] | None = None, inception: Path | None = None,
                     clip: Path | None = None, st_lpips: bool = True) -> MetricNets:
    """Load the networks whose weight files were given, and ST-LPIPS (AlexNet) from the cache
    when `st_lpips` and `humanmv setup` installed it (else the reports say to run it).

    lpips:     one combined file, or [trunk, heads] (the flag given twice); see `eval.lpips`.
    inception: the Inception-v3 file (pt_inception or torchvision's); see `eval.inception`.
    clip:      the CLIP ViT-B/32 image-encoder file; see `eval.clip`.
    """
    nets = MetricNets()
    from humanmv.eval.stlpips_weights import load_stlpips, stlpips_installed

    if st_lpips and stlpips_installed():
        nets.st_lpips = load_stlpips("alex")
    if lpips:
        flag = WEIGHT_FLAGS["LPIPS"][0]
        if len(lpips) > 2:
            raise ConfigError(f"{flag} takes one combined file or two (trunk, then heads), got {len(lpips)}")
        from humanmv.eval.lpips import load_lpips

        nets.lpips = _load(flag, load_lpips, *lpips)
    if inception is not None:
        from humanmv.eval.inception import load_inception

        nets.inception = _load(WEIGHT_FLAGS["FID"][0], load_inception, inception)
    if clip is not None:
        from humanmv.eval.clip import load_clip

        nets.clip = _load(WEIGHT_FLAGS["CLIP"][0], load_clip, clip)
    return nets
