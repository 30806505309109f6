"""Head mode: fit Anny's head (neck/head pose, phenotype, facial actions) and the photo's
camera to the 478 MediaPipe face landmarks.

Landmarks reach the mesh through `face_landmarks.LandmarkMap` (each landmark is one Anny
vertex, found once by detecting landmarks on renders of Anny). Residuals are measured in % of
the face box size, so the fit behaves the same for a tiny face in a group photo and a close-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from humanmv.body.anny_model import POSE_BONES, AnnyBody, BodyParams
from humanmv.body.camera_fit import FitCamera, initial_camera, robust
from humanmv.body.face_landmarks import LandmarkMap
from humanmv.body.fitting import FitConfig, FitResult, FitTargets
from humanmv.cameras import Cameras
from humanmv.errors import NoPersonError

HEAD_BONES = ("neck01", "head")
# Rotation of the neck/head about its axes is cheap, but not beyond what necks do.
_HEAD_PRIOR = {"neck01": 2.0, "head": 1.0}


@dataclass
class HeadFitConfig(FitConfig):
    """Head mode's defaults: more, gentler steps than the body (the face has 52 actions)."""

    iterations: int = 110
    lr: float = 0.03


def _face_box_size(points: np.ndarray) -> float:
    span = points.max(0) - points.min(0)
    return float(max(span.max(), 1.0))


def fit_head(body: AnnyBody, targets: FitTargets, landmark_map: LandmarkMap,
             config: FitConfig | None = None) -> FitResult:
    """Fit the head to `targets.landmarks` (478, 2). Raises NoPersonError without landmarks."""
    cfg = config or HeadFitConfig()
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if targets.landmarks is None or len(targets.landmarks) != len(landmark_map.vertex_index):
        raise NoPersonError("no face landmarks to fit the head to: use a photo where the face "
                            "is clearly visible, or --mode body")
    lm2d = torch.as_tensor(targets.landmarks, dtype=torch.float32)
    weight = landmark_map.weight.clone()
    if targets.landmark_confidence is not None:
        weight = weight * torch.as_tensor(targets.landmark_confidence, dtype=torch.float32)
    W, H = targets.width, targets.height
    unit = 0.01 * _face_box_size(targets.landmarks)  # 1% of the face box, in pixels
    K, K_source = targets.intrinsics(cfg.fov_deg)
    vidx = landmark_map.vertex_index

    params = BodyParams.neutral(1, len(body.expression_names))
    with torch.no_grad():
        rest = body(params)
    R0, t0 = initial_camera(rest.vertices[0, vidx], lm2d, weight, K, facing_away=False)
    camera = FitCamera(R0, t0, K)
    bone_rows = torch.tensor([POSE_BONES.index(b) for b in HEAD_BONES])
    head_pose = torch.zeros(len(HEAD_BONES), 3, requires_grad=True)
    shape_raw = torch.zeros(6, requires_grad=True)
    expr_raw = torch.full((len(body.expression_names),), -4.0, requires_grad=True)
    prior_w = torch.tensor([_HEAD_PRIOR[b] for b in HEAD_BONES])[:, None]

    def evaluate(with_face: bool, sigma: float = 10.0, fixed_body=None):
        pose = torch.zeros(len(POSE_BONES), 3).index_copy(0, bone_rows, head_pose)
        expression = torch.sigmoid(expr_raw) if with_face else torch.zeros_like(expr_raw)
        p = BodyParams(pose[None], torch.sigmoid(shape_raw)[None], expression[None])
        out = fixed_body if fixed_body is not None else body(p)
        uv, _ = camera.project(out.vertices[0, vidx])
        res = ((uv - lm2d) / unit).square().sum(-1)
        terms = {
            "landmarks": cfg.keypoint_weight * (weight * robust(res, sigma)).sum() / weight.sum(),
            "pose_prior": 20 * cfg.pose_prior_weight * (prior_w * head_pose.square()).sum(),
            "shape_prior": cfg.shape_prior_weight * (torch.sigmoid(shape_raw) - 0.5).square().sum(),
            # Sparse expressions: most actions are off in any one face.
            "expression_prior": 100 * cfg.expression_prior_weight * torch.sigmoid(expr_raw).sum(),
        }
        return sum(terms.values()), terms, out, uv, p

    opt = torch.optim.Adam(camera.parameters(), lr=cfg.lr)
    for _ in range(cfg.camera_iterations):
        opt.zero_grad()
        loss = evaluate(False, sigma=1e3, fixed_body=rest)[0]  # rest head; far points pull
        loss.backward()
        opt.step()
    opt = torch.optim.Adam([
        {"params": camera.parameters(), "lr": cfg.lr * 0.5},
        {"params": [head_pose, shape_raw], "lr": cfg.lr},
        {"params": [expr_raw], "lr": cfg.lr * 3},
    ])
    steps = max(cfg.iterations, 1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=cfg.lr * 0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = evaluate(True)[0]
        loss.backward()
        opt.step()
        sched.step()

    with torch.no_grad():
        _, terms, out, uv, p = evaluate(True)
        cam = Cameras(K[None], camera.world_to_cam()[None].detach(), W, H, ["photo"])
    return FitResult("head", p.detach(), cam, out.vertices[0].detach(), uv.detach(),
                     {k: float(v) for k, v in terms.items()}, time.perf_counter() - start,
                     intrinsics_source=K_source)
