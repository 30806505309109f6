"""A toy generator and a toy refine stage, defined outside the package: each registers with one
call (`register()`), and is then usable from `humanmv generate`, `humanmv bench --method` and
the Studio, with no file of humanmv touched.

    python -c "import toy; toy.register(); from humanmv.cli import main; main()" generate ...
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humanmv.generators import GeneratorSpec, RefinerSpec, option, register_generator, register_refiner
from humanmv.views import Views


@dataclass
class ToyOptions:
    strength: float = option(0.3, "how strongly the seed's colour tints the views", minimum=0.0, maximum=1.0)


class ToyGenerator:
    """The prior's renders tinted by a colour drawn from the seed (stochastic, deterministic)."""

    def __init__(self, context, options: ToyOptions, checkpoint=None) -> None:
        self.renderer, self.options = context.renderer, options
        self.tint = torch.nn.Linear(3, 3)  # a module, so the Studio's device checks see one

    def modules(self):
        return {"tint": self.tint}

    def __call__(self, subject, cameras, seed: int = 0) -> Views:
        out = self.renderer.render(subject.avatar, cameras, outputs=("mask", "rgb"))
        colour = torch.rand(3, generator=torch.Generator().manual_seed(seed))
        s = self.options.strength
        rgb = ((1 - s) * out.rgb + s * colour) * out.mask[..., None]
        return Views(cameras, rgb=rgb, mask=out.mask)


@dataclass
class GainOptions:
    gain: float = option(1.0, "brightness factor", minimum=0.0)


class GainRefiner:
    """Scales the views' colours (a refine stage)."""

    def __init__(self, context, options: GainOptions, checkpoint=None) -> None:
        self.gain = options.gain

    def modules(self):
        return {}

    def __call__(self, views: Views, subject, seed: int = 0) -> Views:
        return views.replace(rgb=(views.rgb * self.gain).clamp(0, 1))


def register() -> None:
    register_generator(GeneratorSpec(name="toy", factory=ToyGenerator, options=ToyOptions,
                                     summary="a test generator: tinted prior renders", stochastic=True))
    register_refiner(RefinerSpec(name="gain", factory=GainRefiner, options=GainOptions,
                                 summary="a test refine stage: brighter views"))


class BrokenGenerator(ToyGenerator):
    """A generator with a bug: it drops the last view."""

    def __call__(self, subject, cameras, seed: int = 0) -> Views:
        views = super().__call__(subject, cameras, seed)
        return views[list(range(len(cameras) - 1))]


def register_broken() -> None:
    register_generator(GeneratorSpec(name="broken", factory=BrokenGenerator, options=ToyOptions))
