"""Inception-v3 feature extractor for FID/KID (pool3, 2048-D) in plain torch.

Two variants, same layers and torchvision-style key names (`Conv2d_1a_3x3.conv.weight`,
`Mixed_5b.branch1x1.bn.running_mean`, ...):
- "fid": the TensorFlow graph that FID was defined with (inception-2015-12-05), as ported in
  pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`. It differs from torchvision's network
  only in pooling: the average pools inside Mixed_5b..Mixed_7b do not count padded zeros, and
  Mixed_7c's pool branch uses max pooling. Use this for numbers comparable with papers.
- "torchvision": torchvision's `inception_v3_google-*.pth` (ImageNet classifier weights).

Input handling as in pytorch-fid: (B, 3, H, W) in [0, 1] -> bilinear resize to 299x299
(align_corners=False, no antialiasing) -> 2x - 1. Output: the global average of Mixed_7c.

`load_inception(path)` accepts either file (.pth via `torch.load(weights_only=True)`, or the
same tensors as .safetensors); `fc.*` (1008 classes in the FID file, 1000 in torchvision's),
`AuxLogits.*` and BatchNorm `num_batches_tracked` keys are ignored. With variant="auto" the
variant is "fid" when `fc.weight` has 1008 rows or is absent, "torchvision" when it has 1000.

Measured here (2 CPU cores): ~0.06 s per image once warm; the first call in a process takes
~3 s more (oneDNN set-up).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from humanmv.eval.weights import freeze, load_checked, read_state_dict

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
VARIANTS = ("fid", "torchvision")


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU; keys `conv.weight`, `bn.*`."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _pool(x: Tensor, mode: str) -> Tensor:
    """The 3x3 stride-1 pool before a block's pool branch: "avg" (zeros counted, torchvision),
    "avg_tf" (zeros not counted, TF/FID), "max" (FID's Mixed_7c)."""
    if mode == "max":
        return F.max_pool2d(x, 3, stride=1, padding=1)
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=(mode == "avg"))


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_pool(x, self.pool))
        return torch.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        bp = self.branch_pool(_pool(x, self.pool))
        return torch.cat([self.branch1x1(x), b7, d, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    def __init__(self, cin: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        bp = self.branch_pool(_pool(x, self.pool))
        return torch.cat([self.branch1x1(x), b3, d, bp], 1)


class InceptionV3Features(nn.Module):
    """Inception-v3 up to pool3: images (B, 3, H, W) in [0, 1] -> features (B, 2048).

    Random weights when built directly; `load_inception` loads a real file.
    """

    def __init__(self, variant: str = "fid") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"Inception variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        tf = variant == "fid"
        avg = "avg_tf" if tf else "avg"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32, avg)
        self.Mixed_5c = InceptionA(256, 64, avg)
        self.Mixed_5d = InceptionA(288, 64, avg)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, avg)
        self.Mixed_6c = InceptionC(768, 160, avg)
        self.Mixed_6d = InceptionC(768, 160, avg)
        self.Mixed_6e = InceptionC(768, 192, avg)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, avg)
        self.Mixed_7c = InceptionE(2048, "max" if tf else "avg")
        freeze(self)

    def forward(self, images: Tensor) -> Tensor:
        """images: (B, 3, H, W) float in [0, 1]. Returns (B, 2048) float32 pool3 features."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"Inception expects (B, 3, H, W) images, got {tuple(images.shape)}")
        x = images.float()
        if tuple(x.shape[-2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def load_inception(path: str | PathLike[str], variant: str = "auto") -> InceptionV3Features:
    """Inception-v3 features with weights from a user-given file (see the module docstring).

    variant: "auto" (from the fc layer's size), "fid" or "torchvision".
    Raises CheckpointError naming the file and the first missing or wrong-shaped key.
    """
    p = Path(path)
    state = read_state_dict(p, "Inception-v3")
    if variant == "auto":
        fc = state.get("fc.weight")
        variant = "torchvision" if fc is not None and fc.shape[0] == 1000 else "fid"
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = InceptionV3Features(variant)
    keep = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    load_checked(model, keep, p, "Inception-v3")
    return freeze(model)


def inception_features(model: InceptionV3Features, images: Tensor, batch_size: int = 16) -> Tensor:
    """Pool3 features of many images in batches without gradients: (N, 3, H, W) -> (N, 2048)."""
    out: list[Tensor] = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            out.append(model(images[i : i + batch_size]).cpu())
    return torch.cat(out) if out else torch.zeros(0, FEATURE_DIM)
