"""Neural modules of humanmv: the multi-view UNet, its attention processors, the view-sequence
block, encoders, the tensor contract, and the one strict safetensors reader (`models.weights`).

Names are imported on first use, so `humanmv.models.weights` (used by every checkpoint reader)
does not pay for importing diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "camera_features": "humanmv.models.camera",
    "CONFIGS": "humanmv.models.config", "MVDiffConfig": "humanmv.models.config", "get_config": "humanmv.models.config",
    "MultiViewUNet": "humanmv.models.mv_unet", "ReferenceState": "humanmv.models.mv_unet",
    "ViewSequenceAttention": "humanmv.models.view_sequence",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'humanmv.models' has no attribute {name!r}")


__all__ = sorted(_NAMES)
