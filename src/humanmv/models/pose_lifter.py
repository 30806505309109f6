"""A 2D-to-3D pose lifting network: the photo's keypoints -> their 3D layout in the camera frame.

A 2D pose leaves each limb's depth ambiguous (a forward or a backward leg project the same);
the lifter resolves it from what poses people take, learnt from the synthetic engine's bodies
(`train.recipes.pose_lifter`). The fit uses its answer only for what 2D cannot say: how far each
limb points towards or away from the camera (`body.pose_evidence`).

Input: K keypoints in pixels with their confidences and the photo's intrinsics. They are turned
into camera rays (x - cx) / fx, (y - cy) / fy, centred on the mean of the confident points and
divided by their RMS spread (`normalise_keypoints`), so the input does not depend on the image
size, the focal length or where the person stands in the frame. Unconfident points are zeroed
and flagged. Output: (K, 3) camera-frame positions (OpenCV axes: x right, y down, z away from the
camera), centred on their mean and divided by their RMS spread — a layout, without scale.

Architecture: a residual MLP (Martinez et al. 2017, "a simple yet effective baseline"): one
linear layer to `width`, `blocks` residual blocks of two linear layers with LayerNorm, GELU and
dropout, one linear layer out.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from humanmv.errors import CheckpointError
from humanmv.models.weights import WEIGHTS_NAME, load_module_weights, save_module_weights

CONFIG_NAME = "config.json"


@dataclass
class PoseLifterConfig:
    """n_keypoints: K (Anny's 23 COCO keypoints); width / blocks / dropout: the MLP's."""

    n_keypoints: int = 23
    width: int = 512
    blocks: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PoseLifterConfig":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def normalise_keypoints(xy: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor,
                        min_confidence: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """The lifter's input layout.

    xy: (B, K, 2) pixels; confidence: (B, K) in [0, 1]; K: (B, 3, 3) or (3, 3) intrinsics.
    Returns (rays (B, K, 2): centred, unit RMS spread, 0 where unseen; seen (B, K) float 0/1).
    A body needs >= 2 seen points to have a spread; with fewer, its rays are all 0.
    """
    assert xy.ndim == 3 and xy.shape[-1] == 2, xy.shape
    K = K.expand(xy.shape[0], 3, 3) if K.ndim == 2 else K
    rays = torch.stack([(xy[..., 0] - K[:, None, 0, 2]) / K[:, None, 0, 0],
                        (xy[..., 1] - K[:, None, 1, 2]) / K[:, None, 1, 1]], -1)
    seen = (confidence >= min_confidence).to(xy.dtype)
    n = seen.sum(1, keepdim=True).clamp_min(1)
    centre = (rays * seen[..., None]).sum(1, keepdim=True) / n[..., None]
    offset = (rays - centre) * seen[..., None]
    spread = (offset.square().sum((1, 2)) / n[:, 0]).sqrt().clamp_min(1e-6)
    enough = (seen.sum(1) >= 2).to(xy.dtype)
    return offset / spread[:, None, None] * enough[:, None, None], seen


def normalise_layout(points: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) camera-frame points -> centred on their mean, unit RMS distance from it
    (the lifter's target and output layout)."""
    centred = points - points.mean(1, keepdim=True)
    spread = centred.square().sum(-1).mean(1).sqrt().clamp_min(1e-6)
    return centred / spread[:, None, None]


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout),
                                 nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class PoseLifter(nn.Module):
    """`forward(rays (B, K, 2), seen (B, K)) -> layout (B, K, 3)` (see the module docstring)."""

    def __init__(self, config: PoseLifterConfig | None = None) -> None:
        super().__init__()
        self.config = config or PoseLifterConfig()
        c = self.config
        self.inp = nn.Linear(3 * c.n_keypoints, c.width)
        self.blocks = nn.Sequential(*[_Block(c.width, c.dropout) for _ in range(c.blocks)])
        self.out = nn.Sequential(nn.LayerNorm(c.width), nn.Linear(c.width, 3 * c.n_keypoints))

    def forward(self, rays: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        B, K = seen.shape
        assert K == self.config.n_keypoints and rays.shape == (B, K, 2), (rays.shape, seen.shape)
        x = torch.cat([rays * seen[..., None], seen[..., None]], -1).reshape(B, 3 * K)
        y = self.out(self.blocks(self.inp(x))).reshape(B, K, 3)
        return normalise_layout(y)

    @torch.no_grad()
    def lift(self, xy: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor,
             min_confidence: float = 0.3) -> torch.Tensor:
        """Pixels -> layout, in eval mode: xy (B, K, 2), confidence (B, K), K (3, 3) or (B, 3, 3)."""
        was = self.training
        self.eval()
        try:
            rays, seen = normalise_keypoints(xy.float(), confidence.float(), K.float(), min_confidence)
            return self(rays, seen)
        finally:
            self.train(was)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json + model.safetensors into `folder` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=1))
        save_module_weights(self, folder / WEIGHTS_NAME)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "PoseLifter":
        """Load a folder written by `save_pretrained` (strict: every tensor, every shape)."""
        folder = Path(folder)
        path = folder / CONFIG_NAME
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; a pose lifter folder holds config.json and "
                                  f"{WEIGHTS_NAME} (train one with `humanmv train pose-lifter`)")
        try:
            config = PoseLifterConfig.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"{path}: not a pose lifter config ({err}); save the model again") from None
        model = cls(config)
        load_module_weights(model, folder / WEIGHTS_NAME)
        return model.eval()


SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "pose-lifter"
"""The pose lifter humanmv ships (its MODEL_CARD.md says how it was trained)."""


def load_pose_lifter(folder: str | Path | None = None) -> PoseLifter:
    """The lifter in `folder` (default: the shipped weights), in eval mode, on the CPU."""
    return PoseLifter.from_pretrained(SHIPPED_WEIGHTS if folder is None else folder)
