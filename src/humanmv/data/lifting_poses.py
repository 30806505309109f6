"""3D poses of synthetic bodies seen by random cameras: the pose lifter's training data and the
fit's depth benchmark.

A pose set (`write_pose_set`, one .npz) holds the world-frame keypoints of N bodies of one split:
the engine's subjects (`data.engine.SubjectSampler`: its phenotypes and pose families) plus a
share of "dynamic" poses (the engine's random poses with a wider spread), drawn from the seeds
`split_of` gives that split, so a test set never shares a subject with a training set.
`PoseViews` turns each body into V random camera views per item (the lifter's input and
target, `models.pose_lifter`); a fresh set of cameras, noise and crops every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from humanmv.cameras import look_at
from humanmv.io.atomic import atomic_write_bytes
from humanmv.models.pose_lifter import normalise_keypoints, normalise_layout

POSE_SET_FAMILIES = ("a-pose", "t-pose", "standing", "walking", "random", "dynamic")
DYNAMIC_SHARE = 0.35  # of a pose set's bodies: dynamic poses (the engine has none)
DYNAMIC_POSE_SCALE = 1.8
SMALL_TOES = ("left_small_toe", "right_small_toe")  # mediapipe has no such points: never seen


def pose_set_seeds(split: str, n: int, dataset_seed: int = 0) -> list[int]:
    """The first `n` subject seeds of `split` ("train", "val", "test") of a dataset seed."""
    from humanmv.data.synth import split_of, subject_seed

    seeds, index = [], 0
    while len(seeds) < n:
        if split_of(dataset_seed, index) == split:
            seeds.append(subject_seed(dataset_seed, index))
        index += 1
    return seeds


def sample_pose_set_params(sampler, seed: int, families: tuple[str, ...] | None = None):
    """(BodyParams (batch 1), family) of subject `seed`.

    families None: the engine's subject (its own family mix), or with probability
    DYNAMIC_SHARE a dynamic pose on that subject's body. Else one of `families` (any of
    POSE_SET_FAMILIES) chosen by the seed, on the engine's body of that seed.
    """
    from humanmv.body.anny_model import BodyParams
    from humanmv.body.sampling import sample_body_params
    from humanmv.data.engine import sample_pose

    unknown = sorted(set(families or ()) - set(POSE_SET_FAMILIES))
    if unknown:
        raise ValueError(f"unknown pose families {unknown}; choose from {POSE_SET_FAMILIES}")
    rng = np.random.default_rng([seed, 7])
    if families is None:
        spec = sampler(seed)
        if rng.uniform() >= DYNAMIC_SHARE:
            return spec.params, spec.pose_family
        family, phenotype = "dynamic", spec.params.phenotype
    else:
        family = families[int(rng.integers(len(families)))]
        phenotype = sampler.phenotype(seed)[0][None]
    if family == "dynamic":
        pose = sample_body_params(rng, pose_scale=DYNAMIC_POSE_SCALE).pose
    else:
        pose = sample_pose(rng, family)[None]
    expression = torch.zeros(1, len(sampler.body.expression_names))
    return BodyParams(pose.float(), phenotype.float(), expression), family


def write_pose_set(path: str | Path, n: int, split: str, dataset_seed: int = 0,
                   families: tuple[str, ...] | None = None, batch: int = 64,
                   progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Pose the bodies of `n` subjects of `split` and write `path` (.npz, atomically):
    keypoints (N, 23, 3) float32 world metres, pose (N, P, 3), phenotype (N, 6), family (N,),
    seed (N,), keypoint_names (23,)."""
    from humanmv.body.anny_model import AnnyBody, BodyParams
    from humanmv.data.engine import SubjectSampler

    body = AnnyBody()
    sampler = SubjectSampler(body)
    seeds = pose_set_seeds(split, n, dataset_seed)
    keypoints, poses, phenotypes, names = [], [], [], []
    for start in range(0, n, batch):
        drawn = [sample_pose_set_params(sampler, s, families) for s in seeds[start:start + batch]]
        params = BodyParams(torch.cat([p.pose for p, _ in drawn]), torch.cat([p.phenotype for p, _ in drawn]),
                            torch.cat([p.expression for p, _ in drawn]))
        with torch.no_grad():
            keypoints.append(body(params).keypoints)
        poses.append(params.pose)
        phenotypes.append(params.phenotype)
        names += [f for _, f in drawn]
        if progress:
            progress(min(start + batch, n), n)
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, keypoints=torch.cat(keypoints).numpy().astype(np.float32),
                        pose=torch.cat(poses).numpy(), phenotype=torch.cat(phenotypes).numpy(),
                        family=np.array(names), seed=np.array(seeds, dtype=np.int64),
                        keypoint_names=np.array(body.keypoint_names))
    return atomic_write_bytes(Path(path), buf.getvalue())


@dataclass
class ViewSampling:
    """How `PoseViews` draws a view: azimuth within +-front_az_deg with probability front_share,
    else anywhere; elevation, roll, field of view and framing ranges; 2D noise (in units of the
    keypoints' RMS spread); the share of views cut at the hips..ankles (a portrait crop) and of
    views with random keypoints occluded (each with `occlusion_rate`)."""

    front_share: float = 0.75
    front_az_deg: float = 70.0
    elevation_deg: tuple[float, float] = (-15.0, 25.0)
    roll_std_deg: float = 4.0
    fov_deg: tuple[float, float] = (25.0, 70.0)
    fill: tuple[float, float] = (1.05, 2.5)
    noise: tuple[float, float] = (0.0, 0.04)
    crop_share: float = 0.25
    occlusion_share: float = 0.25
    occlusion_rate: float = 0.12


def sample_views(points: torch.Tensor, n: int, g: torch.Generator, keypoint_names: list[str],
                 sampling: ViewSampling | None = None) -> dict[str, torch.Tensor]:
    """n random views of one body's keypoints `points` (K, 3) world.

    Returns rays (n, K, 2) and seen (n, K) (`normalise_keypoints`' layout, with noise, crops and
    occlusions applied) and target (n, K, 3): the camera-frame layout (`normalise_layout`).
    """
    s = sampling or ViewSampling()
    u = lambda lo, hi, size=(n,): lo + (hi - lo) * torch.rand(size, generator=g)  # noqa: E731
    front = torch.rand(n, generator=g) < s.front_share
    az = torch.where(front, u(-s.front_az_deg, s.front_az_deg), u(-180.0, 180.0))
    el = u(*s.elevation_deg)
    fov = u(*s.fov_deg)
    centre = (points.min(0).values + points.max(0).values) / 2
    radius = float((points - centre).norm(dim=-1).max())
    distance = u(*s.fill) * radius / torch.sin(torch.deg2rad(fov) / 2)
    a, e = torch.deg2rad(az), torch.deg2rad(el)
    eye = centre + torch.stack([torch.sin(a) * torch.cos(e), torch.sin(e), torch.cos(a) * torch.cos(e)], -1) * distance[:, None]
    # Aim off the body's centre (people stand anywhere in a frame), a little.
    target = centre + radius * 0.3 * (torch.rand(n, 3, generator=g) - 0.5)
    w2c = look_at(eye, target, roll_deg=torch.randn(n, generator=g) * s.roll_std_deg)
    cam = points[None] @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]  # (n, K, 3)
    z = cam[..., 2].clamp_min(1e-3)
    xy = cam[..., :2] / z[..., None]
    K = len(keypoint_names)
    conf = torch.ones(n, K)
    for name in SMALL_TOES:
        if name in keypoint_names:
            conf[:, keypoint_names.index(name)] = 0
    # Portrait crops: everything below a line between the hips and the lowest point is unseen.
    hips = [keypoint_names.index(k) for k in ("left_hip", "right_hip")]
    crop = torch.rand(n, generator=g) < s.crop_share
    hip_y = xy[:, hips, 1].mean(1)
    low_y = xy[..., 1].max(1).values
    cut = hip_y + (low_y - hip_y) * u(0.05, 0.85)
    conf = torch.where(crop[:, None] & (xy[..., 1] > cut[:, None]), torch.zeros_like(conf), conf)
    occluded = (torch.rand(n, 1, generator=g) < s.occlusion_share) & (torch.rand(n, K, generator=g) < s.occlusion_rate)
    conf = torch.where(occluded, torch.zeros_like(conf), conf)
    eye3 = torch.eye(3)
    rays, seen = normalise_keypoints(xy, conf, eye3)
    rays = (rays + torch.randn(rays.shape, generator=g) * u(*s.noise)[:, None, None]) * seen[..., None]
    return {"rays": rays, "seen": seen, "target": normalise_layout(cam)}


class PoseViews(Dataset):
    """Item i: `views` random views of body i of a pose set (`sample_views`), as a dict of
    rays (V, K, 2), seen (V, K), target (V, K, 3). `set_epoch` changes the views drawn."""

    def __init__(self, path: str | Path, views: int = 32, seed: int = 0,
                 sampling: ViewSampling | None = None) -> None:
        with np.load(Path(path)) as data:
            self.keypoints = torch.from_numpy(data["keypoints"]).float()
            self.keypoint_names = [str(k) for k in data["keypoint_names"]]
            self.families = [str(f) for f in data["family"]]
        self.views, self.seed, self.sampling = views, seed, sampling or ViewSampling()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.keypoints)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + self.epoch) * 10_000_019 + int(index))
        return sample_views(self.keypoints[index], self.views, g, self.keypoint_names, self.sampling)
