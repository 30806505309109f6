"""The target cameras of a generation: orbit views framing the subject, or the user's own."""

from __future__ import annotations

import torch

from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.pipelines.subject import Subject

DEFAULT_SIZE = 512
# Framing of the orbit views: vertical field of view (degrees).
VIEW_FOV = {"body": 30.0, "head": 25.0}


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
