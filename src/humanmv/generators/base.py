"""What every generator and refine stage is given and must return.

A generator is built once by its spec's factory, `factory(context, options, checkpoint)`, and
then called per subject:

    views = generator(subject, cameras, seed)      # pipelines.subject.Subject -> views.Views

It returns at least `rgb` and `mask` at exactly `cameras` (their order, count and sizes);
`normal` and `depth` when it knows them (the pipeline renders the avatar for missing ones).
Same seed, same views. A refine stage maps views to views of the same cameras:

    views = refiner(views, subject, seed)

`modules()` lists the torch modules a stage holds (the Studio moves and checks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:  # imported for annotations only: keeps this module light
    from humanmv.body.anny_model import AnnyBody
    from humanmv.cameras import Cameras
    from humanmv.pipelines.subject import Subject
    from humanmv.render import Renderer
    from humanmv.views import Views


@dataclass
class GeneratorContext:
    """The shared models a stage may use, loaded once (by the Studio): the renderer, the Anny
    body model and the torch device every learned model must run on."""

    renderer: "Renderer"
    body: "AnnyBody"
    device: torch.device


class Generator(Protocol):
    """subject + target cameras -> views (see the module docstring)."""

    def __call__(self, subject: "Subject", cameras: "Cameras", seed: int = 0) -> "Views": ...

    def modules(self) -> dict[str, torch.nn.Module]: ...


class Refiner(Protocol):
    """views -> refined views of the same cameras (see the module docstring)."""

    def __call__(self, views: "Views", subject: "Subject", seed: int = 0) -> "Views": ...

    def modules(self) -> dict[str, torch.nn.Module]: ...


def check_generated(views: "Views", cameras: "Cameras", stage: str) -> None:
    """The views a stage returned are at exactly `cameras` and carry rgb and mask; a breach is
    a bug in the stage (ValueError with its traceback), not a user error."""
    got = views.cameras
    if (len(got) != len(cameras) or got.names != cameras.names or not torch.equal(got.sizes, cameras.sizes)
            or not torch.allclose(got.world_to_cam, cameras.world_to_cam)
            or not torch.allclose(got.K, cameras.K)):
        raise ValueError(f"{stage} returned views at other cameras than it was asked for "
                         f"({len(got)} views named {got.names[:4]}..., asked {len(cameras)} named {cameras.names[:4]}...)")
    if views.rgb is None or views.mask is None:
        raise ValueError(f"{stage} returned views without rgb or mask (layers: {views.layers})")
