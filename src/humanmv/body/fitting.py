"""Fit the Anny body (or head) and the photo's camera to 2D evidence from one image.

Body mode fits the camera (rotation, translation; focal fixed from an assumed field of view),
the pose of `POSE_BONES` and the phenotype to the COCO keypoints and the person silhouette.
Head mode fits the camera, neck/head pose, phenotype and facial actions to the 478 face
landmarks (through a landmark -> mesh correspondence, `face_landmarks.py`).

The body stays in its canonical frame (root at the origin, upright, facing +Z); the camera
carries the view direction, so "front" in every output is the subject's front.

Depth and unseen parts (`pose_evidence`): a 2D pose leaves each limb's depth open, so for the
first `limb_depth_until` of stage 2 the fit keeps each limb on the side (towards or away from
the camera) that the pose lifter (`models.pose_lifter`) reads from the keypoints, on limbs whose
both ends are seen; the bones of parts the photo does not show (outside the frame, occluded, low
confidence, or the squeezed legs of a photo cut at the bottom) are held at the neutral pose.

Silhouette terms are made differentiable without a rasteriser: the projected vertices of a
mesh cover its silhouette, so (a) every projected vertex should lie inside the mask (the
mask's outside distance transform, sampled at the vertices) and (b) every mask boundary pixel
should have a projected vertex near it (a one-sided chamfer distance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.spatial import cKDTree

from humanmv.body.anny_model import POSE_BONES, AnnyBody, BodyOutput, BodyParams
from humanmv.body.camera_fit import FitCamera, initial_camera, robust
from humanmv.body.pose_evidence import (distrust_cut_lower_body, limb_depth_loss, limb_depth_sines,
                                        limb_weights, seen_parts, unseen_bone_weights)
from humanmv.cameras import Cameras, intrinsics_from_fov
from humanmv.errors import NoPersonError

TORSO_KEYPOINTS = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
FACE_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

# Per-bone prior weights (rest A-pose = 0); spine/neck/feet bend less than limbs.
_BONE_PRIOR = {"spine03": 4.0, "spine01": 4.0, "neck01": 3.0, "head": 2.0, "clavicle.L": 6.0,
               "clavicle.R": 6.0, "wrist.L": 2.0, "wrist.R": 2.0, "foot.L": 3.0, "foot.R": 3.0}


@dataclass
class FitConfig:
    """Options of `fit_body` / `fit_head`. Defaults work for photos of any framing."""

    fov_deg: float = 45.0  # assumed field of view across the photo's longer side
    camera_iterations: int = 60  # stage 1: the camera alone on torso/face points (~1 ms each)
    iterations: int = 70  # stage 2: camera, pose, shape (~25 ms each on 2 cores)
    lr: float = 0.05
    keypoint_weight: float = 1.0
    silhouette_weight: float = 0.5
    pose_prior_weight: float = 2e-3
    shape_prior_weight: float = 1e-3
    expression_prior_weight: float = 1e-4
    limb_depth_weight: float = 25.0  # limbs' out-of-plane angles against the pose lifter's
    limb_depth_margin: float | None = 0.5  # None: match the lifted angle; m: its side, >= m of it
    # The depth term picks each limb's side early; the last steps are the 2D evidence's alone,
    # so the photo view fits as well as without it.
    limb_depth_until: float = 0.6
    hold_unseen: bool = True  # bones of unseen parts stay at the neutral pose
    min_confidence: float = 0.3
    vertex_stride: int = 4  # every k-th vertex in the silhouette terms (speed)
    boundary_samples: int = 600
    seed: int = 0


@dataclass
class FitTargets:
    """2D evidence in pixels of the photo (x right, y down).

    keypoints: (K, 2) in `AnnyBody.keypoint_names` order; confidence: (K,) in [0, 1].
    mask: (H, W) person silhouette in [0, 1], or None.
    landmarks: (L, 2) face landmarks (head mode), landmark_confidence: (L,).
    K: (3, 3) the photo's intrinsics in pixels when known (EXIF, --focal-mm, a calibrated
       rig; see `body.photo_intrinsics`), else None: the fit assumes `FitConfig.fov_deg`.
    K_source: where K came from, as fit.json reports it (e.g. "exif:FocalLengthIn35mmFilm").
    """

    width: int
    height: int
    keypoints: np.ndarray | None = None
    confidence: np.ndarray | None = None
    mask: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    landmark_confidence: np.ndarray | None = None
    K: torch.Tensor | None = None
    K_source: str | None = None

    def intrinsics(self, fov_deg: float) -> tuple[torch.Tensor, str]:
        """(K (3, 3) float32, its source): the given K, else `fov_deg` across the long side."""
        if self.K is not None:
            K = torch.as_tensor(self.K, dtype=torch.float32)
            assert K.shape == (3, 3), K.shape
            return K, self.K_source or "given"
        return (intrinsics_from_fov(fov_deg, self.width, self.height, across="long"),
                f"assumed:fov_{fov_deg:g}deg_long_side")


@dataclass
class FitResult:
    """A fitted body and the photo's camera.

    params: the body parameters (batch 1). camera: 1 camera of the photo's size.
    vertices: (V, 3) world. keypoints_2d: (K, 2) projected fitted keypoints.
    intrinsics_source: where the camera's K came from (`FitTargets.intrinsics`).
    seen_parts: body mode: per part of `pose_evidence.BODY_PARTS`, whether the photo showed it
      (its keypoints confidently inside the frame); unseen parts stay in the neutral pose.
    used_keypoints: body mode: (K,) bool, the keypoints the fit was fitted to (confident, and not
      distrusted as the squeezed legs of a photo cut at the bottom).
    """

    mode: str
    params: BodyParams
    camera: Cameras
    vertices: torch.Tensor
    keypoints_2d: torch.Tensor
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    intrinsics_source: str = ""
    seen_parts: dict[str, bool] = field(default_factory=dict)
    used_keypoints: torch.Tensor | None = None


def silhouette_fields(mask: np.ndarray, samples: int, rng: np.random.Generator, at_edge: bool = False):
    """Outside distance transform (1, 1, H, W) and boundary pixels (S, 2) of the mask that do
    not touch the image border (the person may continue beyond the frame there).

    at_edge: measure both from the mask's edge instead of from inside pixel centres (a signed
    distance, negative inside, and boundary points moved half a pixel out to the edge). From
    pixel centres a surface whose outline lies exactly on the edge is pulled half a pixel in,
    which the fit can afford and a surface fitted to the pixel cannot."""
    inside = mask > 0.5
    dist_out = ndimage.distance_transform_edt(~inside).astype(np.float32)
    if at_edge:
        dist_in = ndimage.distance_transform_edt(inside).astype(np.float32)
        dist_out = np.where(inside, 0.5 - dist_in, dist_out - 0.5).astype(np.float32)
    boundary = inside & ~ndimage.binary_erosion(inside, iterations=1)
    boundary[:2], boundary[-2:], boundary[:, :2], boundary[:, -2:] = False, False, False, False
    ys, xs = np.nonzero(boundary)
    if len(xs) > samples:
        keep = rng.choice(len(xs), samples, replace=False)
        xs, ys = xs[keep], ys[keep]
    pts = np.stack([xs, ys], -1).astype(np.float32) + 0.5
    if at_edge and len(xs):
        gy, gx = np.gradient(ndimage.gaussian_filter(dist_out, 1.0))
        out = np.stack([gx[ys, xs], gy[ys, xs]], -1)
        pts += 0.5 * out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-6)
    return torch.from_numpy(dist_out)[None, None], torch.from_numpy(pts.astype(np.float32))


def silhouette_loss(uv: torch.Tensor, dist_out: torch.Tensor, boundary: torch.Tensor,
                     width: int, height: int, outline: torch.Tensor | None = None,
                     point_weight: torch.Tensor | None = None, boundary_weight: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """uv: (N, 2) projected vertices. Distances in % of the image height. outline: (N,) bool,
    the points that may make the outline (seen edge-on), the only ones the boundary pixels pull
    (None: all). point_weight: (N,) how much each point's inside term counts; boundary_weight:
    (B,) how much each boundary pixel's pull counts (None: 1; both normalised by the count)."""
    grid = torch.stack([uv[:, 0] / width * 2 - 1, uv[:, 1] / height * 2 - 1], -1)
    in_frame = (grid.abs() <= 1).all(-1).float()
    if point_weight is not None:
        in_frame = in_frame * point_weight
    outside = F.grid_sample(dist_out, grid[None, None], align_corners=False, padding_mode="border")[0, 0, 0]
    unit = 0.01 * height
    inside_term = (outside.clamp_min(0) / unit * in_frame).square().sum() / in_frame.sum().clamp_min(1)
    if len(boundary) == 0:
        return inside_term
    # The nearest point is found without autograd and its distance recomputed with it: the
    # same gradient as through the min of cdist, at a fraction of its cost.
    edge = uv if outline is None else uv[outline]
    nearest = torch.from_numpy(cKDTree(edge.detach().double().numpy()).query(boundary.double().numpy())[1])
    pull = robust((boundary - edge[nearest]).square().sum(-1) / unit**2, 10.0)
    if boundary_weight is None:
        return inside_term + pull.mean()
    return inside_term + (pull * boundary_weight).sum() / boundary_weight.sum().clamp_min(1)


def pose_prior(pose: torch.Tensor) -> torch.Tensor:
    """pose: (P, 3) local-ref axis-angle (x: subject's left, y: back, z: up at rest)."""
    w = torch.tensor([_BONE_PRIOR.get(b, 1.0) for b in POSE_BONES])
    loss = (w[:, None] * pose.square()).sum()
    for side in ("L", "R"):
        knee = pose[POSE_BONES.index(f"lowerleg01.{side}")]
        # Knees bend one way (+x) about one axis: penalise hyperextension and twist.
        loss = loss + 20 * F.relu(-knee[0]).square() + 10 * knee[1:].square().sum()
    return loss


def _seen_from_behind(kp2d: torch.Tensor, conf: torch.Tensor, idx: dict[str, int]) -> bool:
    """True when the left/right pairs are mirrored: in a front view the subject's left
    shoulder (and hip) appears on the image's right."""
    votes = []
    for a, b in (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")):
        if conf[idx[a]] > 0 and conf[idx[b]] > 0:
            votes.append(bool(kp2d[idx[a], 0] < kp2d[idx[b], 0]))
    return bool(votes) and all(votes)


def fit_body(body: AnnyBody, targets: FitTargets, config: FitConfig | None = None,
             lifter: torch.nn.Module | None = None) -> FitResult:
    """Fit Anny + the camera to keypoints (and the silhouette when `targets.mask` is given).

    lifter: a `models.pose_lifter.PoseLifter` for the limbs' depth; None fits without it.

    Raises NoPersonError when fewer than 4 keypoints are confident enough to fit.
    """
    cfg = config or FitConfig()
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    names = body.keypoint_names
    kp2d = torch.as_tensor(targets.keypoints, dtype=torch.float32)
    conf = torch.as_tensor(targets.confidence, dtype=torch.float32)
    conf = torch.where(conf >= cfg.min_confidence, conf, torch.zeros_like(conf))
    if cfg.hold_unseen:
        conf = distrust_cut_lower_body(conf, names, targets.mask)
    if int((conf > 0).sum()) < 4:
        raise NoPersonError("too few body keypoints were found to fit a body: use a photo where "
                            "the person's head and shoulders are visible, or --mode head")
    body_points = [i for i, n in enumerate(names) if n not in FACE_KEYPOINTS]
    if int((conf[body_points] > 0).sum()) < 2:
        raise NoPersonError("only a face is visible, too little of the body to fit it: use "
                            "--mode head, or a photo that shows the shoulders")
    W, H = targets.width, targets.height
    K, K_source = targets.intrinsics(cfg.fov_deg)

    params = BodyParams.neutral(1, len(body.expression_names))
    with torch.no_grad():
        rest = body(params)
    idx = {n: i for i, n in enumerate(names)}
    anchor = torch.zeros_like(conf)
    for n in TORSO_KEYPOINTS + FACE_KEYPOINTS:
        anchor[idx[n]] = conf[idx[n]]
    if int((anchor > 0).sum()) < 2:
        anchor = conf
    facing_away = _seen_from_behind(kp2d, conf, idx)
    if facing_away:
        # Detectors trained on front views still report a nose and eyes on the back of the
        # head; trusting them twists the neck round. Ears are seen from behind, so they stay.
        for n in ("nose", "left_eye", "right_eye"):
            conf[idx[n]] = 0.0
            anchor[idx[n]] = 0.0
    R0, t0 = initial_camera(rest.keypoints[0], kp2d, anchor, K, facing_away)
    camera = FitCamera(R0, t0, K)
    seen = seen_parts(conf, names, cfg.min_confidence)
    # Unseen bones are not optimised at all: nothing in the photo speaks for them.
    free = (1 - unseen_bone_weights(seen, POSE_BONES))[:, None] if cfg.hold_unseen else torch.ones(len(POSE_BONES), 1)
    limb_target = limb_weight = None
    if lifter is not None and cfg.limb_depth_weight > 0:
        layout = lifter.lift(kp2d[None], conf[None], K, cfg.min_confidence)[0]
        limb_target = limb_depth_sines(layout, names)
        limb_weight = limb_weights(conf, names, cfg.min_confidence)

    pose = torch.zeros(len(POSE_BONES), 3, requires_grad=True)
    shape_raw = torch.zeros(6, requires_grad=True)
    fields = None
    if targets.mask is not None and cfg.silhouette_weight > 0:
        fields = silhouette_fields(targets.mask, cfg.boundary_samples, rng)

    def evaluate(use_silhouette: bool, kp_weights: torch.Tensor, sigma: float = 10.0, use_depth: bool = True,
                 fixed_body: BodyOutput | None = None) -> tuple[torch.Tensor, dict, BodyOutput]:
        p = BodyParams((pose * free)[None], torch.sigmoid(shape_raw)[None], params.expression)
        out = fixed_body if fixed_body is not None else body(p)
        uv, _ = camera.project(out.keypoints[0])
        res = ((uv - kp2d) / (0.01 * H)).square().sum(-1)  # in % of the image height
        terms = {"keypoints": cfg.keypoint_weight * (kp_weights * robust(res, sigma)).sum()
                 / kp_weights.sum().clamp_min(1e-6)}
        terms["pose_prior"] = cfg.pose_prior_weight * pose_prior(pose * free)
        terms["shape_prior"] = cfg.shape_prior_weight * (torch.sigmoid(shape_raw) - 0.5).square().sum()
        terms["camera_roll"] = 1e-3 * camera.delta[2].square()
        if limb_target is not None and use_depth:
            w2c = camera.world_to_cam()
            in_camera = out.keypoints[0] @ w2c[:3, :3].T + w2c[:3, 3]
            terms["limb_depth"] = cfg.limb_depth_weight * limb_depth_loss(in_camera, limb_target, limb_weight, names,
                                                                        cfg.limb_depth_margin)
        if use_silhouette and fields is not None:
            verts = out.vertices[0, :: cfg.vertex_stride]
            uv_v, _ = camera.project(verts)
            terms["silhouette"] = cfg.silhouette_weight * silhouette_loss(uv_v, *fields, W, H)
        return sum(terms.values()), terms, out

    # Stage 1: the camera alone, on the torso and face points, around the rest body (so no
    # body evaluation per step: ~1 ms instead of ~20 ms).
    opt = torch.optim.Adam(camera.parameters(), lr=cfg.lr)
    for _ in range(cfg.camera_iterations):
        opt.zero_grad()
        loss, _, _ = evaluate(False, anchor, sigma=1e3, fixed_body=rest)  # far points pull
        loss.backward()
        opt.step()
    # Stage 2: camera, pose and shape on all keypoints, the silhouette from the midpoint on.
    opt = torch.optim.Adam([
        {"params": camera.parameters(), "lr": cfg.lr * 0.5},
        {"params": [pose], "lr": cfg.lr},
        {"params": [shape_raw], "lr": cfg.lr},
    ])
    steps = max(cfg.iterations, 1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=cfg.lr * 0.05)
    for it in range(steps):
        opt.zero_grad()
        loss, terms, _ = evaluate(it >= steps // 3, conf, use_depth=it < cfg.limb_depth_until * steps)
        loss.backward()
        opt.step()
        sched.step()

    with torch.no_grad():
        loss, terms, out = evaluate(True, conf)
        uv, _ = camera.project(out.keypoints[0])
        cam = Cameras(K[None], camera.world_to_cam()[None].detach(), W, H, ["photo"])
    final = BodyParams((pose * free).detach()[None].clone(), torch.sigmoid(shape_raw).detach()[None],
                       params.expression.clone())
    return FitResult("body", final, cam, out.vertices[0].detach(), uv.detach(),
                     {k: float(v) for k, v in terms.items()}, time.perf_counter() - start,
                     intrinsics_source=K_source, seen_parts=seen, used_keypoints=conf > 0)

