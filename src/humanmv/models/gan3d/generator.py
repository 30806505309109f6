"""GAN3DGenerator: 3DHumanGAN's generator, pose mapping + appearance mapping + 2D backbone.

    samples = ShellSamples.cat([shell_samples(posed_b, cameras_b, renderer, delta, S) for each b])
    out = generator(z, samples, truncation=0.7)   # z [B, Nz], samples of B views
    out.rgb   # [B, 3, H, W] in [-1, 1];  out.mask  # [B, 1, H, W] in [0, 1]

View b of the batch is image b: one person seen from 16 cameras is B = 16 views of the same z
row repeated (the appearance is per image; the same z in every row keeps it one person).

Checkpoints: folder/config.json ({"model_type": "gan3d-generator", **GAN3DConfig.to_dict()}) +
folder/model.safetensors (`models.weights`: strict keys and shapes, one-line CheckpointError
naming the file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from humanmv.errors import CheckpointError, ConfigError
from humanmv.io.atomic import atomic_output_dir
from humanmv.models.gan3d.backbone import AppearanceMapping, GeneratorBackbone
from humanmv.models.gan3d.body_rays import ShellSamples
from humanmv.models.gan3d.config import GAN3DConfig
from humanmv.models.gan3d.pose_mapping import PoseMappingNetwork
from humanmv.models.weights import WEIGHTS_NAME, load_module_weights, save_module_weights

CONFIG_NAME = "config.json"
MODEL_TYPE = "gan3d-generator"


@dataclass
class GAN3DOutput:
    """What the generator makes for B views.

    Attributes:
        rgb: [B, 3, H, W] in [-1, 1], every pixel (composite with `mask` for a cut-out).
        mask: [B, 1, H, W] in [0, 1], sigmoid(mask_logit).
        mask_logit: [B, 1, H, W].
        style_map: [B, Ns, Hs, Ws] the pose style map, 0 off the body.
        opacity: [B, 1, Hs, Ws] accumulated opacity of the style rays, 0 off the body.
        w: [B, Nw] the (truncated) appearance codes.
    """

    rgb: torch.Tensor
    mask: torch.Tensor
    mask_logit: torch.Tensor
    style_map: torch.Tensor
    opacity: torch.Tensor
    w: torch.Tensor

    def on_white(self) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1]: rgb over white with mask, as the discriminator sees images."""
        return self.rgb * self.mask + (1 - self.mask)


class GAN3DGenerator(nn.Module):
    """`forward(z [B, Nz], samples: ShellSamples of B views, truncation=1.0) -> GAN3DOutput`."""

    def __init__(self, config: GAN3DConfig):
        super().__init__()
        self.config = config
        self.pose_mapping = PoseMappingNetwork(config)
        self.appearance = AppearanceMapping(config.z_dim, config.w_dim, config.mapping_layers, config.w_avg_beta)
        self.backbone = GeneratorBackbone(config)

    @property
    def w_avg(self) -> torch.Tensor:
        """[Nw] the tracked mean appearance code."""
        return self.appearance.w_avg

    def synthesize(self, w: torch.Tensor, samples: ShellSamples) -> GAN3DOutput:
        """Images from appearance codes w [B, Nw] (no mapping, no truncation) and B views."""
        c = self.config
        assert samples.num_views == w.shape[0], (samples.num_views, w.shape)
        assert samples.size == (c.style_height, c.style_width), (samples.size, (c.style_height, c.style_width))
        style_map, opacity = self.pose_mapping(samples)
        rgb, mask_logit = self.backbone(style_map, w)
        return GAN3DOutput(rgb=rgb, mask=torch.sigmoid(mask_logit), mask_logit=mask_logit, style_map=style_map,
                           opacity=opacity, w=w)

    def forward(self, z: torch.Tensor, samples: ShellSamples, truncation: float = 1.0) -> GAN3DOutput:
        assert z.ndim == 2 and z.shape == (samples.num_views, self.config.z_dim), (z.shape, samples.num_views)
        return self.synthesize(self.appearance(z, truncation), samples)

    @torch.no_grad()
    def recalibrate_batch_norm(self, batches: Iterable[tuple[torch.Tensor, ShellSamples]],
                               truncation: float = 1.0) -> int:
        """Recompute every BatchNorm's running statistics as the plain average over `batches`
        ((z [B, Nz], ShellSamples of B views) pairs, forwarded in training mode), then go back
        to the mode the model was in; w_avg is left as it was. Returns the batches seen.

        Why: an EMA of the weights is not the network whose activations the running statistics
        tracked, and with batch norm in the SPADE layers the averaged generator's images under
        the trained one's statistics are off (wrong colours, a mask over the whole image). The
        exported model and every sample grid are recalibrated on training conditions first.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return 0
        momenta = [m.momentum for m in norms]
        w_avg, was_training = self.w_avg.clone(), self.training
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
        self.train()
        seen = 0
        try:
            for z, samples in batches:
                self(z, samples, truncation)
                seen += 1
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            self.appearance.w_avg.copy_(w_avg)
            self.train(was_training)
        assert seen, "recalibrate_batch_norm needs at least one batch"
        return seen

    # -- checkpoints ---------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write folder/config.json + folder/model.safetensors atomically (temp folder + rename);
        an existing folder there is replaced."""
        folder = Path(folder)
        with atomic_output_dir(folder, overwrite=True) as tmp:
            config = {"model_type": MODEL_TYPE, **self.config.to_dict()}
            (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
            save_module_weights(self, tmp / WEIGHTS_NAME)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], device: str | torch.device = "cpu") -> "GAN3DGenerator":
        """Load a folder written by `save_pretrained`, in eval mode on `device`. CheckpointError
        (one line naming the file) on a missing folder or file, bad JSON, another model's config,
        a bad config field, or any missing, unexpected or mis-shaped tensor."""
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: checkpoint folder not found; pass a folder written by "
                                  "GAN3DGenerator.save_pretrained")
        path = folder / CONFIG_NAME
        other = _other_model(folder)
        if other is not None:
            raise CheckpointError(f"{folder}: not a 3DHumanGAN generator checkpoint (a {other} model); pass a "
                                  "folder written by GAN3DGenerator.save_pretrained (a gan3d run's final/)")
        if not path.is_file():
            raise CheckpointError(f"{path}: config file missing; the checkpoint is incomplete, save it again")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{path}: not valid JSON ({exc}); restore or re-save the checkpoint") from None
        if not isinstance(raw, dict) or raw.get("model_type") != MODEL_TYPE:
            found = raw.get("model_type") if isinstance(raw, dict) else None
            raise CheckpointError(f"{path}: not a 3DHumanGAN generator checkpoint (model_type {found!r}, "
                                  f"expected {MODEL_TYPE!r}); pass a folder written by GAN3DGenerator.save_pretrained")
        try:
            config = GAN3DConfig.from_dict({k: v for k, v in raw.items() if k != "model_type"})
        except ConfigError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        model = cls(config).to(device)
        load_module_weights(model, folder / WEIGHTS_NAME)
        return model.eval()


def _other_model(folder: Path) -> str | None:
    """What another exported model's folder is (its training.json's recipe when not gan3d;
    "mvdiff" for a diffusion pipeline folder), else None."""
    try:
        recipe = json.loads((folder / "training.json").read_text()).get("recipe")
    except (OSError, ValueError, AttributeError):
        recipe = None
    if isinstance(recipe, str) and recipe != "gan3d":
        return recipe
    return "mvdiff" if (folder / "scheduler_config.json").is_file() else None


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters (buffers excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["GAN3DGenerator", "GAN3DOutput", "parameter_count", "CONFIG_NAME", "MODEL_TYPE"]
