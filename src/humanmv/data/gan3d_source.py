"""3DHumanGAN as a data source (`humanmv synth --source gan3d`): the engine's subjects, coloured by the GAN.

Each subject is the engine's person (`SubjectSampler`: phenotype, pose family) on the preset's
rig with its jittered "input" photo camera (`engine.subject_cameras`), so a gan3d dataset and an
engine dataset of the same (preset, seed) hold the same bodies seen by the same cameras. Layers:

    rgb                          the GAN's colour, one z per subject (seeded by the subject's
                                 seed), drawn at each view's portrait crop and pasted back
                                 (`GAN3DSampler.at_views`); alpha = the mesh's mask
    mask, normal, depth, labels  the posed Anny mesh's: ground truth, as the engine writes it

The GAN draws only in a thin shell round the body, so its people wear what fits the skin: no
garment or hair shells, and clothed presets are refused. meta.json says where the colours came
from ("source") and how well the GAN's own mask agrees with the mesh's (IoU per view), the
figure to filter a set on. The GAN works at its small size (e.g. 128x64 portraits), so the
preset's 256 px views are upsampled ~2x: soft, like a low-resolution photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from humanmv.data.engine import Preset, SubjectSpec, subject_cameras
from humanmv.errors import ConfigError
from humanmv.views import Views


def check_gan3d_preset(preset: Preset) -> None:
    """ConfigError (one line naming --preset) when the GAN cannot draw the preset's views."""
    if preset.rig != "body":
        raise ConfigError(f"--source gan3d draws whole bodies, not the {preset.rig} rig of --preset {preset.name}; "
                          "choose body-train or body-bench")
    if preset.clothed:
        raise ConfigError(f"--source gan3d draws people on the body mesh (no garment shells), so --preset "
                          f"{preset.name} cannot be made; choose body-train or body-bench")


class GAN3DSubjectRenderer:
    """Renders `SubjectSpec`s with a 3DHumanGAN generator's colours (module docstring).
    Build once per process, like `engine.SubjectRenderer`."""

    def __init__(self, body, renderer, generator, truncation: float = 0.7, checkpoint: str | Path = "") -> None:
        from humanmv.pipelines.gan3d_sampling import GAN3DSampler

        self.body, self.renderer = body, renderer
        self.sampler = GAN3DSampler(generator, body, renderer)
        self.truncation, self.checkpoint = float(truncation), str(checkpoint)

    def __call__(self, spec: SubjectSpec, preset: Preset) -> Views:
        """The rig's views plus the "input" photo view (the last), as `engine.SubjectRenderer`."""
        check_gan3d_preset(preset)
        rng = np.random.default_rng(spec.seed + 1_000_003)  # the engine's camera draw, so the cameras match
        with torch.no_grad():
            verts = self.body(spec.params).vertices[0]
        cams = subject_cameras(self.body, verts, preset, rng)
        truth = self.renderer.render(self.body.mesh(verts), cams, outputs=("mask", "normal", "depth", "labels"))
        z = torch.randn(1, self.sampler.config.z_dim, generator=torch.Generator().manual_seed(spec.seed))
        drawn = self.sampler.at_views(z, self.sampler.posed(spec.params), cams, self.truncation)
        mask = truth.mask.cpu()
        meta = spec.to_meta(self.body, preset)
        meta.pop("appearance")  # the engine's paint is not what these views show
        meta["source"] = {"name": "gan3d", "checkpoint": self.checkpoint, "generator": self.sampler.config.name,
                          "truncation": self.truncation, "z_seed": spec.seed,
                          "mask_iou": [round(v, 4) for v in mask_iou(drawn.mask > 0.5, mask > 0.5).tolist()]}
        return Views(cams, drawn.rgb * mask[..., None], mask, truth.normal.cpu(), truth.depth.cpu(),
                     truth.labels.cpu(), meta)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-view IoU [C] of bool masks a, b [C, H, W] (1 where both are empty)."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


__all__ = ["GAN3DSubjectRenderer", "check_gan3d_preset", "mask_iou"]
