"""A rig playing a clip, rendered: the frames of `humanmv animate`.

The clip is sampled at the video's frame times (looping clips repeat, others hold their last
key), skinned in torch (`skinning.animate_vertices`) and drawn with the one renderer, textured,
on white. The camera frames every vertex of every frame, so the avatar never leaves the picture:
"front" stays at azimuth 0 (the subject's front), "orbit" goes once round the subject over the
video (azimuth 0 -> 360, the turntable's direction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from humanmv.cameras import Cameras, orbit_cameras_around
from humanmv.errors import ConfigError

CAMERAS = ("front", "orbit")
BATCH = 8  # frames per renderer call: one upload per batch, but each view draws every copy
SPACING = 25.0  # metres between the copies of a batch (see _side_by_side)


@dataclass
class AnimationConfig:
    """seconds: video length; fps: frames per second; size: square frame size in pixels (even,
    for H.264); camera: "front" or "orbit"; elevation_deg / fov_deg / margin: the camera's
    height angle, vertical field of view and framing slack."""

    seconds: float = 4.0
    fps: float = 24.0
    size: int = 512
    camera: str = "front"
    elevation_deg: float = 5.0  # well under 45 degrees: see _side_by_side
    fov_deg: float = 30.0
    margin: float = 1.05

    def check(self) -> None:
        """One-line ConfigErrors for values a user gave."""
        if self.camera not in CAMERAS:
            raise ConfigError(f"--camera must be front or orbit, got {self.camera!r}")
        if not 0 < self.seconds <= 600:
            raise ConfigError(f"--seconds must be within (0, 600], got {self.seconds}")
        if not 1 <= self.fps <= 120:
            raise ConfigError(f"--fps must be within 1..120, got {self.fps}")
        if not 64 <= self.size <= 2048 or self.size % 2:
            raise ConfigError(f"--size must be an even number of pixels within 64..2048, got {self.size}")

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


def animation_cameras(points: torch.Tensor, config: AnimationConfig) -> Cameras:
    """One camera per frame framing `points` (P, 3) (every frame's vertices, world)."""
    n = config.frames
    az = torch.zeros(n) if config.camera == "front" else torch.arange(n, dtype=torch.float32) * (360.0 / n)
    return orbit_cameras_around(points, az, config.elevation_deg, fov_deg=config.fov_deg,
                                width=config.size, height=config.size, margin=config.margin)


def render_animation(rig, clip, renderer, config: AnimationConfig | None = None,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 frames of `rig` playing `clip` (a `Clip` of the rig), on white.

    progress(done, total) is called after each batch of rendered frames."""
    from humanmv.rig.skinning import animate_vertices

    config = config or AnimationConfig()
    config.check()
    n = config.frames
    times = torch.arange(n, dtype=torch.float64) / config.fps
    vertices = animate_vertices(rig, clip, times)  # (N, V, 3)
    cams = animation_cameras(vertices.reshape(-1, 3), config)
    frames = np.empty((n, config.size, config.size, 3), np.uint8)
    for start in range(0, n, BATCH):
        index = list(range(start, min(n, start + BATCH)))
        mesh, batch_cams = _side_by_side(rig, vertices[index], cams[index])
        out = renderer.render(mesh, batch_cams, outputs=("mask", "rgb"))
        rgb = out.rgb.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
        rgb[out.mask < 0.5] = 255  # on white (the mask is 0 or 1)
        frames[start:start + len(index)] = rgb.numpy()
        if progress is not None:
            progress(index[-1] + 1, n)
    return frames


def _side_by_side(rig, vertices: torch.Tensor, cams: Cameras):
    """One mesh holding the K frames' surfaces (K, V, 3) stacked SPACING metres apart along the
    world's up axis, and each camera moved up with its frame: one renderer call draws K frames
    (one texture upload, one vertex buffer). The other copies never enter a camera's view: the
    cameras look about horizontally (elevation well under 45 degrees) with a narrow field of
    view, so a copy 25 m above or below is far outside it."""
    K, V = vertices.shape[:2]
    lift = SPACING * torch.arange(K, dtype=torch.float32)
    stacked = vertices.float().clone()
    stacked[..., 1] += lift[:, None]
    faces = (rig.faces[None] + V * torch.arange(K)[:, None, None]).reshape(-1, 3)
    mesh = rig.mesh(stacked.reshape(-1, 3))
    mesh.faces, mesh.uvs = faces, rig.uvs.repeat(K, 1)
    if rig.uv_faces is not None:
        mesh.uv_faces = (rig.uv_faces[None] + rig.uvs.shape[0] * torch.arange(K)[:, None, None]).reshape(-1, 3)
    w2c = cams.world_to_cam.clone()
    shift = torch.eye(4).repeat(K, 1, 1)
    shift[:, 1, 3] = -lift
    w2c = w2c @ shift  # camera k sees world point p + lift_k where it saw p
    return mesh, Cameras(cams.K, w2c, cams.width, cams.height, cams.names, cams.az, cams.el, cams.sizes)
