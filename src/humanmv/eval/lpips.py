"""LPIPS (Zhang et al. 2018, v0.1) in plain torch: AlexNet or VGG16 features + linear heads.

The metric: both images are scaled to [-1, 1], shifted/scaled per channel by the ImageNet-ish
constants below, passed through the trunk; at five ReLU outputs the features are normalised to
unit length along channels, their squared difference is weighted per channel by a learned
non-negative 1x1 conv ("lin" head) and averaged over space; the five numbers are summed.

Weights are never downloaded: `load_lpips(trunk, heads)` reads files the user gives.
Accepted files (.safetensors, or .pth/.pt read with `torch.load(weights_only=True)`):
- trunk, AlexNet: torchvision's `alexnet-owt-7be5be79.pth` (keys `features.{0,3,6,8,10}.weight`
  / `.bias`, shapes (64,3,11,11), (192,64,5,5), (384,192,3,3), (256,384,3,3), (256,256,3,3));
  its `classifier.*` keys are ignored.
- trunk, VGG16: torchvision's `vgg16-397923af.pth` (keys `features.{0,2,5,7,10,12,14,17,19,21,
  24,26,28}.weight` / `.bias`); `classifier.*` ignored.
- heads: the lpips package's `weights/v0.1/alex.pth` or `vgg.pth` (keys `lin0.model.1.weight`
  ... `lin4.model.1.weight`, shapes (1, C, 1, 1) with C = 64,192,384,256,256 for AlexNet and
  64,128,256,512,512 for VGG16). `linN.model.0.weight` (heads saved without dropout) is
  accepted too.
- or one combined file (heads=None) holding both: torchvision-style `features.*` or the lpips
  module's own `net.sliceK.N.*` names, plus `linN.model.1.weight` (`scaling_layer.*` ignored),
  e.g. `LPIPS.state_dict()` of this module or of the lpips package.

Measured here (2 CPU cores, batches of 8): AlexNet LPIPS ~60 ms per 256x256 pair, VGG16 ~0.7 s.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from humanmv.eval.weights import freeze, load_checked, read_state_dict

LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

_ALEX_CONVS = [  # (in, out, kernel, stride, padding)
    (3, 64, 11, 4, 2),
    (64, 192, 5, 1, 2),
    (192, 384, 3, 1, 1),
    (384, 256, 3, 1, 1),
    (256, 256, 3, 1, 1),
]
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]

NETS: dict[str, dict[str, tuple[int, ...]]] = {
    # taps: index in `features` of the ReLU whose output is used; channels at each tap
    "alex": {"taps": (1, 4, 7, 9, 11), "channels": (64, 192, 384, 256, 256)},
    "vgg": {"taps": (3, 8, 15, 22, 29), "channels": (64, 128, 256, 512, 512)},
    # ST-LPIPS (Ghildyal & Liu 2022): the same nets made shift-tolerant, every stride-2 step a
    # stride-1 op followed by a blur-pool (`BlurDownsample`)
    "alex-st": {"taps": (2, 6, 10, 12, 14), "channels": (64, 192, 384, 256, 256)},
    "vgg-st": {"taps": (3, 9, 17, 25, 33), "channels": (64, 128, 256, 512, 512)},
}


class BlurDownsample(nn.Module):
    """Anti-aliased stride-2 downsampling: reflect-pad by 2, then a per-channel 3x3 binomial
    blur ([1, 2, 1] outer itself, / 16) at stride 2. The filter is a persistent buffer `filt`
    (C, 1, 3, 3), as the ST-LPIPS files store it, so loading checks it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = (a[:, None] * a[None, :]) / 16.0
        self.register_buffer("filt", filt.expand(channels, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


def alexnet_features() -> nn.Sequential:
    """torchvision's `alexnet().features` layout (conv/ReLU/max-pool indices 0..12)."""
    layers: list[nn.Module] = []
    for i, (cin, cout, k, s, p) in enumerate(_ALEX_CONVS):
        layers += [nn.Conv2d(cin, cout, k, stride=s, padding=p), nn.ReLU(inplace=True)]
        if i in (0, 1, 4):
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
    return nn.Sequential(*layers)


def vgg16_features() -> nn.Sequential:
    """torchvision's `vgg16().features` layout up to relu5_3 (indices 0..29)."""
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers)


def alexnet_st_features() -> nn.Sequential:
    """The shift-tolerant AlexNet trunk of ST-LPIPS (indices 0..14; ReLU taps 2, 6, 10, 12, 14):
    the first conv at stride 1 and each max-pool at stride 1, each followed by a blur-pool."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=1, padding=2), BlurDownsample(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=1), BlurDownsample(64),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=1), BlurDownsample(192),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
    )


def vgg16_st_features() -> nn.Sequential:
    """The shift-tolerant VGG16 trunk of ST-LPIPS up to relu5_3 (indices 0..33): each max-pool
    at kernel 2, stride 1, followed by a blur-pool."""
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=1), BlurDownsample(cin)]
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers)


TRUNKS = {"alex": alexnet_features, "vgg": vgg16_features, "alex-st": alexnet_st_features,
          "vgg-st": vgg16_st_features}


class LinHead(nn.Module):
    """One LPIPS head: `model = Sequential(Dropout, Conv2d(C, 1, 1, bias=False))` (the names the
    published head files use). The metric never applies the dropout."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model[1](x)


class LPIPS(nn.Module):
    """LPIPS distance; `LPIPS(net)` has random weights, `load_lpips` loads real ones.

    State-dict keys: `features.N.weight/bias` (torchvision trunk names) and
    `lin0.model.1.weight` ... `lin4.model.1.weight`.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"LPIPS net must be one of {sorted(NETS)}, got {net!r}")
        self.net = net
        self.taps = NETS[net]["taps"]
        self.channels = NETS[net]["channels"]
        self.features = TRUNKS[net]()
        for i, c in enumerate(self.channels):
            self.add_module(f"lin{i}", LinHead(c))
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        freeze(self)

    def heads(self) -> list[LinHead]:
        return [getattr(self, f"lin{i}") for i in range(len(self.channels))]

    def tapped_features(self, x: Tensor) -> list[Tensor]:
        """Trunk activations at the five taps for input already scaled by the ScalingLayer."""
        out: list[Tensor] = []
        last = self.taps[-1]
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
            if i == last:
                break
        return out

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """LPIPS per image pair, `(B,)` float32 (0 for identical images, larger = more different).

        pred, target: (B, 3, H, W) in [0, 1] (H, W >= 32 for AlexNet, >= 16 for VGG16).
        """
        if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"LPIPS expects two (B, 3, H, W) batches, got {tuple(pred.shape)}, {tuple(target.shape)}"
            )
        b = pred.shape[0]
        x = torch.cat([pred, target]).float() * 2.0 - 1.0
        x = (x - self.shift) / self.scale
        total = torch.zeros(b, device=x.device)
        for f, head in zip(self.tapped_features(x), self.heads()):
            n = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            d = (n[:b] - n[b:]) ** 2
            total = total + head(d).mean(dim=(1, 2, 3))
        return total


_SLICE_KEY = re.compile(r"^net\.slice\d+\.(\d+)\.(weight|bias|filt)$")
_HEAD_KEY = re.compile(r"^lin(\d+)\.model\.([01])\.weight$")


def _rename(key: str) -> str | None:
    """A published key -> this module's key; None for keys that are not used."""
    if key.startswith("features."):
        return key
    m = _SLICE_KEY.match(key)
    if m:
        return f"features.{m.group(1)}.{m.group(2)}"
    m = _HEAD_KEY.match(key)
    if m:
        return f"lin{m.group(1)}.model.1.weight"
    return None


def load_lpips(
    trunk: str | PathLike[str],
    heads: str | PathLike[str] | None = None,
    net: str = "alex",
) -> LPIPS:
    """LPIPS with weights from user-given files (see the module docstring for what is accepted).

    trunk: the AlexNet / VGG16 feature file, or one combined file when `heads` is None.
    heads: the linear-heads file (lpips' `alex.pth` / `vgg.pth`).
    net:   "alex" (the standard LPIPS) or "vgg".
    Raises CheckpointError naming the file and the first missing or wrong-shaped key.
    """
    model = LPIPS(net)
    sources: dict[str, Path] = {}
    state: dict[str, Tensor] = {}
    files = [(Path(trunk), f"LPIPS ({net}) trunk")]
    if heads is not None:
        files.append((Path(heads), f"LPIPS ({net}) heads"))
    for path, what in files:
        for key, tensor in read_state_dict(path, what).items():
            new = _rename(key)
            if new is not None and new not in state:
                state[new] = tensor
                sources[new] = path
    trunk_path = Path(trunk)
    heads_path = Path(heads) if heads is not None else trunk_path

    def where(key: str) -> Path:
        return sources.get(key, heads_path if key.startswith("lin") else trunk_path)

    load_checked(model, state, where, f"LPIPS ({net})")
    return freeze(model)


def lpips_distance(model: LPIPS, pred: Tensor, target: Tensor, batch_size: int = 8) -> Tensor:
    """`model(pred, target)` in batches without gradients, `(B,)` float32 on the CPU."""
    out: list[Tensor] = []
    with torch.no_grad():
        for i in range(0, pred.shape[0], batch_size):
            out.append(model(pred[i : i + batch_size], target[i : i + batch_size]).cpu())
    return torch.cat(out) if out else torch.zeros(0)


__all__ = ["LPIPS", "BlurDownsample", "LinHead", "alexnet_features", "alexnet_st_features", "load_lpips",
           "lpips_distance", "vgg16_features", "vgg16_st_features"]
