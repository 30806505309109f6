"""The "face" refine stage (seed 000, stage 2): every generated view's face refined by the face
UNet with the photo's 2D identity and the fitted head's 3D face structure, pasted back.

It runs after mvdiff with `--refine face` (off by default until it measurably beats mvdiff
without it: README, "The face stage"; `--no-face-stage` takes it out whatever --refine says) and
needs a face in the photo: when perception found none (or the fitted face is turned away from the
camera) the views pass through unchanged and the run logs it once. The reconstruct stage then
fuses the refined faces into the texture only where the photo saw the face poorly or not at
all (`Subject.photo_face`: the photo's own face texels are kept).

Options: `--opt face.steps=20`, `face.strength=0.6`, `face.identity=false` (no identity
tokens), `face.shape=false` (no 3D face-structure stream), `face.checkpoint=DIR` (a folder of
`humanmv train face`; default the shipped weights).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from humanmv.generators.base import GeneratorContext
from humanmv.generators.registry import RefinerSpec, register_refiner
from humanmv.options import option

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "face-small"
log = logging.getLogger("humanmv.face")


@dataclass
class FaceStageOptions:
    """Settings of the face stage (defaults chosen on validation subjects)."""

    steps: int = option(20, "denoising steps of the face crops", minimum=1, maximum=1000)
    strength: float = option(0.6, "how far the views' faces are noised before denoising (1 = pure noise)",
                             minimum=0.001, maximum=1.0)
    guidance_scale: float = option(1.0, "classifier-free guidance on the photo's face (1 = none)", minimum=0.0)
    identity: bool = option(True, "condition on the photo's 2D identity (dlib embedding -> tokens)")
    shape: bool = option(True, "condition on the fitted head's 3D face structure (shape tokens, normal and "
                               "landmark maps)")
    view_colour: float = option(0.1, "keep the views' colours below a blur of this share of the face crop "
                                "(0: the model's colours)", minimum=0.0, maximum=1.0)
    max_angle: float = option(100.0, "refine views whose face is turned at most this far from the camera (deg)",
                              minimum=0.0, maximum=180.0)
    checkpoint: Path | None = option(None, "face-stage folder written by `humanmv train face` (default: shipped)")


class FaceStage:
    """views -> the same views with their faces refined (module docstring)."""

    def __init__(self, context: GeneratorContext, options: FaceStageOptions, checkpoint: Path | None = None) -> None:
        from humanmv.pipelines.face_refine import FaceRefinePipeline

        self.options = options
        folder = options.checkpoint or checkpoint or DEFAULT_CHECKPOINT
        self.pipe = FaceRefinePipeline.from_pretrained(folder, context.body, context.renderer)
        self.pipe.model.to(context.device)
        self._logged: set[str] = set()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"face_model": self.pipe.model}

    def __call__(self, views, subject, seed: int = 0):
        from humanmv.pipelines.face_refine import FaceRefineConfig

        o = self.options
        if subject.mode != "body" or subject.body_params is None:
            return self._skip(views, f"the face stage refines body views ({subject.mode} mode given)")
        if not subject.face_found:
            return self._skip(views, "no face was found in the photo; face stage skipped")
        params = subject.body_params
        shape = torch.cat([params.phenotype[0], params.expression[0]]).cpu()
        config = FaceRefineConfig(steps=o.steps, strength=o.strength, guidance_scale=o.guidance_scale,
                                  max_angle=o.max_angle, use_identity=o.identity, use_shape=o.shape,
                                  view_colour=o.view_colour)
        refined, report = self.pipe(views, subject.avatar.vertices, subject.photo, subject.person_mask,
                                    subject.photo_camera, shape, subject.face_identity, config, seed=seed)
        if report.skipped:
            return self._skip(views, f"face stage skipped: {report.skipped}")
        return refined.replace(meta={**views.meta, "face_stage": report.to_dict()})

    def _skip(self, views, why: str):
        if why not in self._logged:  # once per reason, not once per subject of a batch
            log.warning(why)
            self._logged.add(why)
        return views.replace(meta={**views.meta, "face_stage": {"refined_views": [], "skipped": why}})


SPEC = register_refiner(RefinerSpec(
    name="face",
    factory=FaceStage,
    options=FaceStageOptions,
    modes=("body",),
    summary="refines each view's face with the photo's identity and the fitted head's 3D structure (seed 000)",
    default_checkpoint=DEFAULT_CHECKPOINT,
))
