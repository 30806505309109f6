"""GAN3DConfig: the shape of a 3DHumanGAN generator and its U-Net discriminator.

3DHumanGAN (Yang et al. 2022, arXiv 2212.07378): a 2D backbone of 1x1 convolutions whose first
layers are modulated by a pose style map, rendered by a 3D pose mapping network (a SIREN over
canonical coordinates, integrated along camera rays), and whose later layers are modulated by an
appearance code w = mapping(z). Trained against a U-Net discriminator with a per-pixel
segmentation GAN loss (fake / background / body part).

Three named configs (`GAN3D_CONFIGS`, `get_gan3d_config(name)`):
- "tiny":  tests: 32x16 images, an 8x4 style map, widths of 8-16 (forward+backward in well
           under a second on one CPU thread).
- "small": the shipped size: 128x64 images (H x W), a 32x16 style map, under 2M parameters in
           the generator (float32 safetensors well under 100 MB), trainable on a CPU.
- "paper": the paper's resolution, 256x128 images. The paper summary does not give the widths;
           these are our guesses at its scale (StyleGAN-Human-like mapping, 256-channel
           backbone, 64x32 style map). Only shape-tested.

Ablation switches (the rows of the paper's Table 2):
- backbone: "1x1" (the paper's pixel-independent backbone at image resolution) or "upsampling"
  (early layers at the style-map resolution with 3x3 convolutions, 2x upsampling steps to the
  image size: the "Upsampling" row).
- norm: "batch" (spatially adaptive batch norm, the paper's choice) or "instance" (the
  "Instance Norm" row).
- disc_loss: "segmentation" (per-pixel fake / background / part classes, OASIS-style) or
  "binary" (an image-level real/fake logit: the "VAE" row's traditional GAN loss).

Sizes are (height, width), like the tensors [B, C, H, W]: a 128x64 image is 128 rows, 64 columns
(a standing person).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from humanmv.body.anny_model import PART_NAMES
from humanmv.errors import ConfigError

BACKBONES = ("1x1", "upsampling")
NORMS = ("batch", "instance")
DISC_LOSSES = ("segmentation", "binary")


@dataclass
class GAN3DConfig:
    """Everything that fixes the parameters of the generator and the discriminator.
    JSON-serialisable (`to_dict` / `from_dict`).

    Attributes:
        name: the named config it came from ("custom" otherwise).
        image_height, image_width: generated image H x W in pixels.
        style_height, style_width: pose style map Hs x Ws; the body's rays are sampled at this
            resolution (cameras given to `body_rays.shell_samples` must have this size).
        style_channels: Ns, channels of the pose style vector s and of the style map.
        z_dim: Nz, appearance noise size. w_dim: Nw, appearance code size.
        mapping_layers: linear layers of the appearance mapping MLP.
        w_avg_beta: EMA decay of the tracked mean w (for truncation), updated in training.
        backbone_channels: width of every backbone layer.
        backbone_depth: backbone layers in all (pose-modulated + appearance-modulated).
        spade_layers: K, the first K layers take the pose style map through SPADE.
        spade_hidden: width of the shared SPADE layer that reads the style map.
        shell_half_thickness: delta in metres; ray samples lie in [r - delta, r + delta] around
            the distance r of the body surface along the ray.
        samples_per_ray: S samples per foreground ray.
        siren_width, siren_depth: the pose mapping SIREN's hidden width and sine layers.
        siren_omega0: omega_0 of the sine activations (Sitzmann et al. use 30).
        num_parts: K part classes (len(PART_NAMES)); the discriminator predicts 2 + K classes.
        disc_channels: channels of the discriminator's first level (doubled per level, capped).
        disc_depth: strided downsampling levels of the discriminator's encoder.
        disc_max_channels: cap on the discriminator's channels.
        disc_with_mask: the discriminator also reads the mask as a 4th input channel.
        backbone, norm, disc_loss: the ablation switches (module docstring).
    """

    name: str = "custom"
    image_height: int = 128
    image_width: int = 64
    style_height: int = 32
    style_width: int = 16
    style_channels: int = 32
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    w_avg_beta: float = 0.995
    backbone_channels: int = 96
    backbone_depth: int = 8
    spade_layers: int = 3
    spade_hidden: int = 64
    shell_half_thickness: float = 0.05
    samples_per_ray: int = 12
    siren_width: int = 64
    siren_depth: int = 4
    siren_omega0: float = 30.0
    num_parts: int = len(PART_NAMES)
    disc_channels: int = 32
    disc_depth: int = 4
    disc_max_channels: int = 256
    disc_with_mask: bool = False
    backbone: str = "1x1"
    norm: str = "batch"
    disc_loss: str = "segmentation"

    def __post_init__(self) -> None:
        self.validate()

    @property
    def upsampling_steps(self) -> int:
        """log2(image / style map size): the 2x steps of the "upsampling" backbone."""
        return int(round(math.log2(self.image_height / self.style_height)))

    @property
    def disc_classes(self) -> int:
        """2 + K: 0 = fake, 1 = background, 2 + k = body part k."""
        return 2 + self.num_parts

    def validate(self) -> None:
        """Raise ConfigError (one line naming the field) on an inconsistent config."""
        where = f"gan3d config {self.name!r}"
        for f, choices in (("backbone", BACKBONES), ("norm", NORMS), ("disc_loss", DISC_LOSSES)):
            if getattr(self, f) not in choices:
                raise ConfigError(f"{where}: {f} must be one of {', '.join(choices)}, got {getattr(self, f)!r}")
        positive = ("image_height", "image_width", "style_height", "style_width", "style_channels", "z_dim",
                    "w_dim", "mapping_layers", "backbone_channels", "backbone_depth", "spade_hidden",
                    "samples_per_ray", "siren_width", "siren_depth", "num_parts", "disc_channels",
                    "disc_depth", "disc_max_channels")
        for f in positive:
            value = getattr(self, f)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: {f} must be a positive integer, got {value!r}")
        if not 0 <= self.spade_layers <= self.backbone_depth:
            raise ConfigError(f"{where}: spade_layers must be within 0..backbone_depth ({self.backbone_depth}), "
                              f"got {self.spade_layers}")
        if not self.shell_half_thickness > 0:
            raise ConfigError(f"{where}: shell_half_thickness must be > 0 metres, got {self.shell_half_thickness}")
        if not self.siren_omega0 > 0:
            raise ConfigError(f"{where}: siren_omega0 must be > 0, got {self.siren_omega0}")
        if not 0 <= self.w_avg_beta < 1:
            raise ConfigError(f"{where}: w_avg_beta must be within [0, 1), got {self.w_avg_beta}")
        ry, rx = self.image_height / self.style_height, self.image_width / self.style_width
        steps = math.log2(ry) if ry >= 1 else -1.0
        # The style map is upsampled to the image by one factor in both axes; the upsampling
        # ablation needs that factor to be a power of two.
        if ry != rx or steps != int(steps):
            raise ConfigError(f"{where}: image {self.image_height}x{self.image_width} must be the style map "
                              f"{self.style_height}x{self.style_width} times a power of two (1, 2, 4, ...)")
        if self.backbone == "upsampling" and self.backbone_depth - self.spade_layers < self.upsampling_steps:
            raise ConfigError(f"{where}: the upsampling backbone needs backbone_depth - spade_layers >= "
                              f"{self.upsampling_steps} (one layer per 2x step), got "
                              f"{self.backbone_depth - self.spade_layers}")
        if self.image_height % (2 ** self.disc_depth) or self.image_width % (2 ** self.disc_depth):
            raise ConfigError(f"{where}: image {self.image_height}x{self.image_width} must be divisible by "
                              f"2**disc_depth = {2 ** self.disc_depth}")

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GAN3DConfig":
        """Inverse of to_dict. A non-object, an unknown field or a bad value raises ConfigError
        naming it."""
        if not isinstance(d, dict):
            raise ConfigError(f"gan3d config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown gan3d config field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"bad gan3d config: {exc}") from None


GAN3D_CONFIGS: dict[str, GAN3DConfig] = {
    "tiny": GAN3DConfig(
        name="tiny", image_height=32, image_width=16, style_height=8, style_width=4, style_channels=8,
        z_dim=16, w_dim=16, mapping_layers=2, backbone_channels=16, backbone_depth=4, spade_layers=2,
        spade_hidden=8, samples_per_ray=4, siren_width=16, siren_depth=2, disc_channels=8, disc_depth=2,
        disc_max_channels=16,
    ),
    "small": GAN3DConfig(name="small"),
    "paper": GAN3DConfig(
        name="paper", image_height=256, image_width=128, style_height=64, style_width=32, style_channels=128,
        z_dim=512, w_dim=512, mapping_layers=8, backbone_channels=256, backbone_depth=10, spade_layers=4,
        spade_hidden=128, samples_per_ray=24, siren_width=256, siren_depth=8, disc_channels=64, disc_depth=5,
        disc_max_channels=512,
    ),
}


def get_gan3d_config(name: str, **changes: Any) -> GAN3DConfig:
    """A fresh copy of the named config with `changes` (GAN3DConfig fields, e.g. the ablation
    switches) applied; ConfigError lists the names on a typo."""
    if name not in GAN3D_CONFIGS:
        raise ConfigError(f"unknown gan3d config {name!r}; choose one of {', '.join(GAN3D_CONFIGS)}")
    return GAN3DConfig.from_dict({**GAN3D_CONFIGS[name].to_dict(), **changes})


__all__ = ["GAN3DConfig", "GAN3D_CONFIGS", "get_gan3d_config", "BACKBONES", "NORMS", "DISC_LOSSES"]
