"""MVDiffConfig: the shape of the multi-view diffusion model (seed 000's "mvdiff" generator).

Three named configs (`CONFIGS`, `get_config(name)`):
- "tiny":  a 32x32 pixel-space toy for tests (forward+backward in a fraction of a second).
- "small": the shipped model: pixel space, 64x64, 11.0M parameters, trainable on a 2-core CPU
           (~1.1 CPU-seconds per forward+backward of S=1, N=6 views + reference).
- "face-tiny" / "face-small": the face stage's UNet (128 x 128 face crops, 15 condition channels:
           coarse RGBA + normals + the face mask and 7 landmark heatmaps).
- "sd21":  Stable Diffusion 2.1's UNet shape in latent space (4 channels, 8x VAE, 96x96 latents
           = 768x768 images), loadable from a diffusers `unet/` folder
           (`MultiViewUNet.from_diffusers_unet`).

Conventions (the tensor contract itself is in models/inputs.py):
- image_channels: RGBA (RGB on white + alpha) in pixel space, VAE latent channels in latent space.
- condition_channels: the input conditions, concatenated to every view's noisy input along the
  channels (Zero123 / Wonder3D). Pixel space: coarse RGBA (4) + normal map (3) = 7, plus any
  extra maps after them (the face configs: 7 + 8 = 15); latent
  space: VAE latents of the coarse RGB (4) + of the normal map (4) = 8; 0: no input conditions.
- attention_head_dim follows diffusers' historical naming: it is the NUMBER of heads per level
  (SD 2.1's (5, 10, 20, 20) gives 64 channels per head).
- attention_levels[i]: level i of the UNet (down block i, mirrored up block) has transformer
  blocks (cross-view + reference self-attention and image cross-attention). Cross-view attention
  joins N*h*w tokens, which is too slow on a CPU at the highest resolution, so the small configs
  use plain ResNet blocks there.
- view_sequence: one view-sequence block (models/view_sequence.py) after every transformer
  block; off in the named configs, so their parameters are exactly the shipped ones. Its
  window (0 = all N views, else an odd K) and cyclic (the views close an orbit) fix which views
  each view attends to.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from humanmv.errors import ConfigError

SPACES = ("pixel", "latent")
PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


@dataclass
class MVDiffConfig:
    """Everything that fixes the model's parameters and its noise schedule. JSON-serialisable."""

    name: str = "custom"
    space: str = "pixel"
    sample_size: int = 64
    image_channels: int = 4
    condition_channels: int = 7
    block_out_channels: tuple[int, ...] = (32, 64, 128, 256)
    layers_per_block: int = 1
    attention_head_dim: tuple[int, ...] = (1, 2, 4, 8)
    attention_levels: tuple[bool, ...] = (False, False, True, True)
    cross_attention_dim: int = 256
    num_image_tokens: int = 16
    camera_dim: int = 12
    prediction_type: str = "sample"
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    cross_view: bool = True
    reference_attention: bool = True
    norm_num_groups: int = 32
    use_linear_projection: bool = False
    upcast_attention: bool = False
    encoder_channels: tuple[int, ...] = (32, 64, 128)
    # New fields default to "off" so that config.json files written before them still load.
    view_sequence: bool = False
    view_sequence_window: int = 0
    view_sequence_cyclic: bool = False

    def __post_init__(self) -> None:
        # JSON gives lists; keep tuples so configs compare equal after a round trip.
        for f in ("block_out_channels", "attention_head_dim", "attention_levels", "encoder_channels"):
            setattr(self, f, tuple(getattr(self, f)))
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError (one line) on an inconsistent config."""
        levels = len(self.block_out_channels)
        if self.space not in SPACES:
            raise ConfigError(f"mvdiff config {self.name!r}: space must be one of {SPACES}, got {self.space!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(
                f"mvdiff config {self.name!r}: prediction_type must be one of {PREDICTION_TYPES}, "
                f"got {self.prediction_type!r}"
            )
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ConfigError(
                f"mvdiff config {self.name!r}: beta_schedule must be one of {BETA_SCHEDULES}, "
                f"got {self.beta_schedule!r}"
            )
        for f in ("attention_head_dim", "attention_levels"):
            if len(getattr(self, f)) != levels:
                raise ConfigError(
                    f"mvdiff config {self.name!r}: {f} needs one entry per level "
                    f"({levels}, like block_out_channels), got {len(getattr(self, f))}"
                )
        for c in self.block_out_channels:
            if c % self.norm_num_groups:
                raise ConfigError(
                    f"mvdiff config {self.name!r}: block_out_channels {c} is not divisible by "
                    f"norm_num_groups {self.norm_num_groups}"
                )
        grid = math.isqrt(self.num_image_tokens)
        if self.num_image_tokens < 1 or grid * grid != self.num_image_tokens:
            raise ConfigError(
                f"mvdiff config {self.name!r}: num_image_tokens must be a square (4, 16, 64, ...), "
                f"got {self.num_image_tokens}"
            )
        if self.image_channels < 1 or self.condition_channels < 0:
            raise ConfigError(
                f"mvdiff config {self.name!r}: need image_channels >= 1 and condition_channels >= 0, "
                f"got {self.image_channels} and {self.condition_channels}"
            )
        if self.view_sequence_window < 0 or (self.view_sequence_window and self.view_sequence_window % 2 == 0):
            raise ConfigError(
                f"mvdiff config {self.name!r}: view_sequence_window must be 0 (all views) or odd "
                f"(the view and K // 2 neighbours on each side), got {self.view_sequence_window}"
            )
        if self.camera_dim != 12:
            raise ConfigError(
                f"mvdiff config {self.name!r}: camera_dim must be 12 (camera_features' size), "
                f"got {self.camera_dim}"
            )
        if self.sample_size % (2 ** (levels - 1)):
            raise ConfigError(
                f"mvdiff config {self.name!r}: sample_size {self.sample_size} must be divisible by "
                f"{2 ** (levels - 1)} ({levels} levels)"
            )

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MVDiffConfig":
        """Inverse of to_dict. Unknown fields raise ConfigError naming the field."""
        if not isinstance(d, dict):
            raise ConfigError(f"mvdiff config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown mvdiff config field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"bad mvdiff config: {exc}") from exc

    # -- what other libraries need -----------------------------------------------------------
    def unet_kwargs(self, plain: bool = False) -> dict[str, Any]:
        """Keyword arguments for diffusers' UNet2DConditionModel.

        plain=False: our UNet (conditions concatenated to the input, camera projection added to
        the time embedding). plain=True: the plain text-to-image UNet with the same shape
        (in_channels = image_channels, no class embedding), e.g. SD 2.1's unet/ folder.
        """
        down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in self.attention_levels)
        up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(self.attention_levels))
        kwargs: dict[str, Any] = dict(
            sample_size=self.sample_size,
            in_channels=self.image_channels if plain else self.image_channels + self.condition_channels,
            out_channels=self.image_channels,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=self.block_out_channels,
            layers_per_block=self.layers_per_block,
            attention_head_dim=self.attention_head_dim,
            cross_attention_dim=self.cross_attention_dim,
            norm_num_groups=self.norm_num_groups,
            use_linear_projection=self.use_linear_projection,
            upcast_attention=self.upcast_attention,
        )
        if not plain:
            kwargs.update(class_embed_type="projection", projection_class_embeddings_input_dim=self.camera_dim)
        return kwargs

    def scheduler_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by the training (DDPMScheduler) and sampling schedulers.

        Use `DDPMScheduler(**config.scheduler_kwargs())` when training so that the samplers
        (DDIM, DPM-Solver++) see the same noise schedule.
        """
        betas = (0.00085, 0.012) if self.beta_schedule == "scaled_linear" else (0.0001, 0.02)
        return dict(
            num_train_timesteps=self.num_train_timesteps,
            prediction_type=self.prediction_type,
            beta_schedule=self.beta_schedule,
            beta_start=betas[0],
            beta_end=betas[1],
            # Pixel data lives in [-1, 1]; latents do not, so only pixel models clip x0.
            clip_sample=self.space == "pixel",
        )


CONFIGS: dict[str, MVDiffConfig] = {
    "tiny": MVDiffConfig(
        name="tiny",
        sample_size=32,
        block_out_channels=(16, 32),
        layers_per_block=1,
        attention_head_dim=(1, 2),
        attention_levels=(False, True),
        cross_attention_dim=32,
        num_image_tokens=4,
        norm_num_groups=8,
        encoder_channels=(8, 16),
    ),
    "small": MVDiffConfig(
        name="small",
        sample_size=64,
        block_out_channels=(32, 64, 128, 192),
        layers_per_block=1,
        attention_head_dim=(1, 2, 4, 6),  # heads: 32 channels per head
        attention_levels=(False, False, True, True),  # attention at 16x16 and 8x8 (+ mid)
        cross_attention_dim=192,
        num_image_tokens=16,
        norm_num_groups=32,
        encoder_channels=(32, 64, 128),
    ),
    # The face stage (seed 000, stage 2): 128 x 128 face crops, conditions = coarse RGBA (4) +
    # normals (3) + face mask (1) + 7 landmark heatmaps (body.face_conditions); one more level
    # than "small" so that attention still runs at 16x16 and 8x8 only.
    "face-tiny": MVDiffConfig(
        name="face-tiny",
        sample_size=32,
        condition_channels=15,
        block_out_channels=(16, 32),
        layers_per_block=1,
        attention_head_dim=(1, 2),
        attention_levels=(False, True),
        cross_attention_dim=32,
        num_image_tokens=4,
        norm_num_groups=8,
        encoder_channels=(8, 16),
    ),
    "face-small": MVDiffConfig(
        name="face-small",
        sample_size=128,
        condition_channels=15,
        block_out_channels=(32, 32, 64, 128, 192),
        layers_per_block=1,
        attention_head_dim=(1, 1, 2, 4, 6),
        attention_levels=(False, False, False, True, True),
        cross_attention_dim=192,
        num_image_tokens=16,
        norm_num_groups=32,
        encoder_channels=(32, 64, 128),
    ),
    "sd21": MVDiffConfig(
        name="sd21",
        space="latent",
        sample_size=96,
        image_channels=4,
        condition_channels=8,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        attention_head_dim=(5, 10, 20, 20),
        attention_levels=(True, True, True, False),
        cross_attention_dim=1024,
        num_image_tokens=16,
        prediction_type="v_prediction",
        beta_schedule="scaled_linear",
        norm_num_groups=32,
        use_linear_projection=True,
        upcast_attention=True,
        encoder_channels=(64, 128, 256, 512),
    ),
}


def get_config(name: str) -> MVDiffConfig:
    """A fresh copy of the named config; ConfigError lists the names on a typo."""
    if name not in CONFIGS:
        raise ConfigError(f"unknown mvdiff config {name!r}; choose one of {', '.join(CONFIGS)}")
    return dataclasses.replace(CONFIGS[name])


__all__ = ["MVDiffConfig", "CONFIGS", "get_config"]
