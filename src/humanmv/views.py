"""`Views`: the one container of images that travels between stages, and the stage layout.

Stage data layout (every stage, every generator, the dataset format, the bench):
- one tensor per layer, batched over the C views, channels last, float32 on the CPU unless a
  stage says otherwise, row 0 at the top of the image:
    rgb     (C, H, W, 3) in [0, 1], 0 on the background (multiply by mask to composite)
    mask    (C, H, W)    in [0, 1], the person's alpha
    normal  (C, H, W, 3) camera-space unit normals (OpenCV axes), 0 on the background
    depth   (C, H, W)    camera z in metres, 0 on the background
    labels  (C, H, W)    int64 part labels, -1 on the background
  every layer is optional; `cameras` (C views) is not.
- views of different sizes share one canvas: H x W is the largest height x width among the
  cameras (`Cameras.sizes`), view i's image is its top-left `sizes[i]` corner and the rest of
  its canvas is background. Writers crop (`Views.image`), so files have each camera's own size.
- neural networks take channels first, (B, K, H, W); the conversion is `channels_first` /
  `channels_last` here (and the model-specific tensor contracts in `models.inputs`), nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import torch

from humanmv.cameras import Cameras

LAYERS = ("rgb", "mask", "normal", "depth", "labels")
_CHANNELS = {"rgb": 3, "mask": None, "normal": 3, "depth": None, "labels": None}


def channels_first(images: torch.Tensor) -> torch.Tensor:
    """(..., H, W, K) -> (..., K, H, W) (a view, not a copy)."""
    return images.movedim(-1, -3)


def channels_last(images: torch.Tensor) -> torch.Tensor:
    """(..., K, H, W) -> (..., H, W, K) (a view, not a copy)."""
    return images.movedim(-3, -1)


@dataclass
class Views:
    """C views of one subject at `cameras`, in the stage layout of the module docstring.

    meta: free-form JSON-able notes that travel with the views (a dataset subject's meta.json).
    """

    cameras: Cameras
    rgb: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    normal: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.cameras), self.cameras.height, self.cameras.width)
        for name in LAYERS:
            x = getattr(self, name)
            if x is None:
                continue
            want = shape + ((_CHANNELS[name],) if _CHANNELS[name] else ())
            if tuple(x.shape) != want:
                raise ValueError(f"Views.{name} must be {want} for these cameras, got {tuple(x.shape)}")

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the layers present, in LAYERS order."""
        return tuple(n for n in LAYERS if getattr(self, n) is not None)

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> "Views":
        """The views at `index` (a Views of their cameras; the canvas shrinks to fit them)."""
        cams = self.cameras[index]
        idx = _indices(index, len(self))
        h, w = cams.height, cams.width
        layers = {n: getattr(self, n)[idx][:, :h, :w] for n in self.layers}
        return Views(cams, meta=dict(self.meta), **layers)

    def replace(self, **changes) -> "Views":
        """A copy with some fields replaced (dataclasses.replace; shapes are checked again)."""
        return dataclasses.replace(self, **changes)

    @property
    def rgba(self) -> torch.Tensor:
        """(C, H, W, 4): rgb with alpha = mask."""
        return torch.cat([self.rgb, self.mask[..., None]], dim=-1)

    def on_white(self) -> torch.Tensor:
        """(C, H, W, 3): rgb composited on white by the mask, as a viewer sees the views."""
        m = self.mask[..., None]
        return self.rgb * m + (1 - m)

    def image(self, layer: str, i: int) -> torch.Tensor:
        """View i of `layer` at its camera's own size (height_i, width_i[, K])."""
        w, h = (int(s) for s in self.cameras.sizes[i])
        return getattr(self, layer)[i, :h, :w]

    def clear_outside(self) -> "Views":
        """These views with every pixel outside each view's own size set to background (0;
        labels -1), as the layout requires; the views themselves when all share the canvas."""
        if not self.cameras.mixed_sizes:
            return self
        changes = {}
        for name in self.layers:
            x = getattr(self, name).clone()
            for i, (w, h) in enumerate(self.cameras.sizes.tolist()):
                fill = -1 if name == "labels" else 0
                x[i, h:] = fill
                x[i, :, w:] = fill
            changes[name] = x
        return self.replace(**changes)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_render(cls, cameras: Cameras, rendered, layers: Sequence[str] = ("rgb", "mask", "normal", "depth"),
                    meta: dict | None = None) -> "Views":
        """Views from a `render.RenderOutput` at `cameras`; rgb is set to 0 on the background."""
        got = {n: getattr(rendered, n) for n in layers}
        if got.get("rgb") is not None and rendered.mask is not None:
            got["rgb"] = got["rgb"] * rendered.mask[..., None]
        return cls(cameras, meta=dict(meta or {}), **got)


def _indices(index, n: int) -> torch.Tensor:
    if isinstance(index, int):
        return torch.tensor([index])
    if isinstance(index, slice):
        return torch.arange(n)[index]
    return torch.as_tensor(index, dtype=torch.long)


def lab_channels_last(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) sRGB [0, 1] -> (..., 3) CIE-Lab (D65), any leading shape (kornia's conversion)."""
    from kornia.color import rgb_to_lab

    flat = rgb.reshape(-1, 3).clamp(0, 1).T[:, :, None]  # (3, N, 1): an image kornia takes
    return rgb_to_lab(flat)[:, :, 0].T.reshape(rgb.shape)


def rgb_channels_last_from_lab(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3) CIE-Lab (D65) -> (..., 3) sRGB [0, 1] (clipped), the inverse of
    `lab_channels_last` inside the sRGB gamut."""
    from kornia.color import lab_to_rgb

    flat = lab.reshape(-1, 3).T[:, :, None]
    return lab_to_rgb(flat, clip=True)[:, :, 0].T.reshape(lab.shape)
