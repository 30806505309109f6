"""Random plausible Anny bodies, expressions and photo cameras, deterministic from a numpy
Generator: the ground truth of the fitting benchmarks and tests (and a start for the data
engine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanmv.body.anny_model import POSE_BONES, BodyOutput, BodyParams
from humanmv.cameras import Cameras, intrinsics_from_fov, look_at, orbit_positions

# Standard deviation (radians) of each posed bone's rotation about each axis.
POSE_STD = {
    "spine03": 0.1, "spine01": 0.1, "neck01": 0.12, "head": 0.15,
    "clavicle.L": 0.05, "clavicle.R": 0.05,
    "upperarm01.L": 0.4, "upperarm01.R": 0.4, "lowerarm01.L": 0.4, "lowerarm01.R": 0.4,
    "wrist.L": 0.2, "wrist.R": 0.2,
    "upperleg01.L": 0.25, "upperleg01.R": 0.25, "lowerleg01.L": 0.0, "lowerleg01.R": 0.0,
    "foot.L": 0.1, "foot.R": 0.1,
}


def sample_body_params(rng: np.random.Generator, n_expressions: int = 52,
                       expressions: bool = False, pose_scale: float = 1.0) -> BodyParams:
    """One random body: phenotype in [0.1, 0.9], a random pose around the A-pose with knees
    bending only forwards, and optionally a few random facial actions. pose_scale multiplies
    every bone's spread (1.8: the "dynamic" poses of kicks, lunges and reaches)."""
    pose = np.stack([rng.normal(0.0, POSE_STD[b] * pose_scale, 3) for b in POSE_BONES])
    for side in "LR":
        pose[POSE_BONES.index(f"lowerleg01.{side}")] = [abs(rng.normal(0.0, 0.5 * pose_scale)), 0.0, 0.0]
    phenotype = rng.uniform(0.1, 0.9, 6)
    expression = np.zeros(n_expressions)
    if expressions:
        active = rng.choice(n_expressions, size=4, replace=False)
        expression[active] = rng.uniform(0.2, 0.8, 4)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32)[None]  # noqa: E731
    return BodyParams(as_t(pose), as_t(phenotype), as_t(expression))


def sample_photo_camera(rng: np.random.Generator, target: torch.Tensor, radius: float,
                        width: int = 512, height: int = 512, az_range: float = 50.0) -> Cameras:
    """A jittered "photo" camera looking at `target` (3,): azimuth within +-az_range, elevation
    -10..15 deg, field of view 35..55 deg, small roll, framing a sphere of `radius` at 1.1-1.6x."""
    az, el = rng.uniform(-az_range, az_range), rng.uniform(-10.0, 15.0)
    fov = rng.uniform(35.0, 55.0)
    fill = rng.uniform(1.1, 1.6)
    distance = fill * radius / np.sin(np.radians(fov) / 2)
    eye = orbit_positions(torch.tensor([az]), torch.tensor([el]), distance, target.tolist())
    w2c = look_at(eye, target[None].float(), roll_deg=float(rng.normal(0.0, 3.0)))
    K = intrinsics_from_fov(fov, width, height, across="long")[None]
    return Cameras(K, w2c, width, height, ["photo"], torch.tensor([az]), torch.tensor([el]))


@dataclass
class SyntheticPhoto:
    """A posed body seen by a random photo camera: the fit's ground truth.

    body: the posed body (batch 1). camera: the photo camera (1 view). mask: (H, W) float32
    rendered silhouette. keypoints: (K, 2) float32 projected keypoints, pixels.
    """

    body: BodyOutput
    camera: Cameras
    mask: torch.Tensor
    keypoints: torch.Tensor


def synthetic_photo(body, renderer, params: BodyParams, rng: np.random.Generator, width: int = 512,
                    height: int = 512, az_range: float = 50.0) -> SyntheticPhoto:
    """Pose `params` on `body` (an AnnyBody), draw a photo camera framing it from `rng`
    (`sample_photo_camera`) and render the silhouette with `renderer`."""
    with torch.no_grad():
        posed = body(params)
    verts = posed.vertices[0]
    centre = (verts.min(0).values + verts.max(0).values) / 2
    radius = float((verts - centre).norm(dim=-1).max())
    cam = sample_photo_camera(rng, centre, radius, width, height, az_range=az_range)
    mask = renderer.render(body.mesh(verts), cam, outputs=("mask",)).mask[0]
    return SyntheticPhoto(posed, cam, mask, cam.project(posed.keypoints[0])[0][0])
