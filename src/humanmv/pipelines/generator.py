"""The generator interface: what every view generator (prior, mvdiff, head360, gan3d) takes
and returns, the registry the CLI picks from by name, and the "prior" generator itself (a
render of the textured avatar), which the learned generators start from.

A generator receives the `Subject` (the photo, its fit and the textured avatar the prior
builds) and the target cameras, and returns `GeneratedViews`. The prior generator renders the
avatar; learned generators refine those renders (normal maps as geometry conditions, coarse
RGB as 3D-aware initial noise). New generators register here; the CLI never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from humanmv.body.anny_model import BodyParams
from humanmv.body.fitting import FitTargets
from humanmv.cameras import Cameras
from humanmv.errors import ConfigError
from humanmv.render import Mesh, Renderer


@dataclass
class Subject:
    """One person, as known after fitting and texturing.

    photo: (H, W, 3) float32 [0, 1]; person_mask: (H, W) float32 [0, 1].
    mode: "body" or "head". avatar: the fitted mesh with its UV texture (world frame).
    photo_camera: the photo's camera (1 view). focus: (N, 3) world points the views frame
    (the body's or the head's vertices). body_params / targets: the body fit's parameters
    and the photo evidence it was fitted to (keypoints, mask), for generators that refit the
    body to their views; None when unknown.
    """

    photo: torch.Tensor
    person_mask: torch.Tensor
    mode: str
    avatar: Mesh
    photo_camera: Cameras
    focus: torch.Tensor
    body_params: BodyParams | None = None
    targets: FitTargets | None = None


@dataclass
class GeneratedViews:
    """C views of the subject, row 0 at the top.

    rgb: (C, H, W, 3) float32 [0, 1]; mask: (C, H, W) float32 {0, 1} (the alpha);
    normal: (C, H, W, 3) camera-space unit normals (OpenCV axes), 0 on the background;
    depth: (C, H, W) camera z in metres, 0 on the background.
    avatar: the textured mesh these views are renders of, when the generator made a new one
    (e.g. mvdiff fuses its views into the avatar's texture); None means the subject's avatar.
    """

    cameras: Cameras
    rgb: torch.Tensor
    mask: torch.Tensor
    normal: torch.Tensor
    depth: torch.Tensor
    avatar: Mesh | None = None

    @property
    def rgba(self) -> torch.Tensor:
        """(C, H, W, 4) with alpha = mask."""
        return torch.cat([self.rgb, self.mask[..., None]], dim=-1)


class Generator(Protocol):
    """Turns a subject into views at the given cameras; same seed, same views."""

    name: str

    def __call__(self, subject: Subject, cameras: Cameras, seed: int = 0) -> GeneratedViews: ...


class PriorGenerator:
    """"prior": no learned model; render the textured avatar from every camera."""

    name = "prior"

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def __call__(self, subject: Subject, cameras: Cameras, seed: int = 0) -> GeneratedViews:
        out = self.renderer.render(subject.avatar, cameras, outputs=("mask", "rgb", "normal", "depth"))
        rgb = out.rgb * out.mask[..., None]
        return GeneratedViews(cameras, rgb, out.mask, out.normal, out.depth)


_REGISTRY: dict[str, Callable[..., Generator]] = {}


def register_generator(name: str, factory: Callable[..., Generator]) -> None:
    _REGISTRY[name] = factory


def available_generators() -> list[str]:
    return sorted(_REGISTRY)


def make_generator(name: str, **kwargs) -> Generator:
    """Build the generator called `name`; ConfigError naming the choices otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown --generator {name!r}; available: {', '.join(available_generators())}")
    return _REGISTRY[name](**kwargs)
