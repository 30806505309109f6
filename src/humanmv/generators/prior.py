"""The "prior" generator: no learned model; the textured avatar rendered at every camera.

Its views agree with each other by construction (one textured mesh), and the learned
generators start from them: normal maps as geometry conditions, coarse RGB as 3D-aware noise.
"""

from __future__ import annotations

import torch

from humanmv.generators.base import GeneratorContext
from humanmv.options import NoOptions
from humanmv.generators.registry import GeneratorSpec, register_generator
from humanmv.views import Views

RENDERED_LAYERS = ("mask", "rgb", "normal", "depth")


class PriorGenerator:
    """subject + cameras -> renders of the subject's textured avatar (rgb, mask, normal, depth)."""

    def __init__(self, context: GeneratorContext, options: NoOptions | None = None, checkpoint=None) -> None:
        self.renderer = context.renderer

    def __call__(self, subject, cameras, seed: int = 0) -> Views:
        out = self.renderer.render(subject.avatar, cameras, outputs=RENDERED_LAYERS)
        return Views.from_render(cameras, out)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {}


SPEC = register_generator(GeneratorSpec(
    name="prior",
    factory=PriorGenerator,
    summary="no learned model: the fitted, textured avatar rendered at every camera",
    modes=("body", "head"),
    reconstruct="none",
))
