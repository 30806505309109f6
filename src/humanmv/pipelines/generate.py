"""What a generation returns, and the target cameras it is rendered at.

The stages themselves run in `humanmv.Studio.generate` (perceive + fit -> project the photo
onto the texture -> target cameras -> generate -> refine -> reconstruct); `pipelines.outputs`
exports a `GenerationResult` to a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.generators.choice import GeneratorChoice
from humanmv.pipelines.fitting import PhotoFit
from humanmv.pipelines.subject import Subject
from humanmv.recon.avatar import Avatar
from humanmv.views import Views

DEFAULT_SIZE = 512
# Framing of the orbit views: vertical field of view (degrees).
VIEW_FOV = {"body": 30.0, "head": 25.0}


@dataclass
class GenerationResult:
    """fit: the photo's fit. subject: the textured avatar the generator started from.
    views: the output views. avatar: the exported avatar (after reconstruction).
    choice: the generator, its options and stages. texture_source: (S, S) uint8 map of where
    each texel of the subject's texture came from (0 photo, 1 mirror, 2 part, 3 inpaint).
    timings: seconds per stage."""

    fit: PhotoFit
    subject: Subject
    views: Views
    avatar: Avatar
    choice: GeneratorChoice
    texture_source: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)


def orbit_views(focus: torch.Tensor, n: int, size: int, mode: str) -> Cameras:
    """`n` views evenly spaced in azimuth from the front (az = 0, 360/n, ...), elevation 0,
    framing the `focus` points (N, 3)."""
    return orbit_cameras_around(focus, ring_azimuths(n), 0.0, fov_deg=VIEW_FOV[mode], width=size, height=size,
                                margin=1.05)


def target_cameras(subject: Subject, views: int, cameras: Cameras | None, size: int | None) -> Cameras:
    """`cameras` (custom, in the subject's world frame; resized to size x size when `size` is
    given), else `views` orbit views of `size` pixels (default 512) framing the subject."""
    if cameras is None:
        return orbit_views(subject.focus, views, size or DEFAULT_SIZE, subject.mode)
    if size is not None and (cameras.mixed_sizes or (cameras.width, cameras.height) != (size, size)):
        return cameras.resized(size, size)
    return cameras
