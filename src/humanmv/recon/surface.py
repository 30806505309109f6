"""The surface stage: clothes and hair as geometry on the fitted body, from silhouettes.

The naked Anny body is the model's average person in the fitted pose; a loose top, a skirt, a
bun are paint on it. This stage fits two things to the photo's person mask (and to the
silhouette of every generated view that says something the avatar does not already say):

- body-surface offsets: a scalar per vertex along the bind normal (canonical space), a smooth
  field from radial basis functions over control points on each body part (a front silhouette
  wider than the body at the belly pushes the belly out all round, so the profile deepens too),
  bounded per part (torso and thighs may move out most; hands, feet and face hardly);
  Laplacian, edge-length and left/right symmetry terms keep it smooth, short and even;
- the shells the silhouette calls for: each candidate (`CANDIDATES`: a skirt spanning the legs,
  long hair, a bun, hair volume) has its parameters fitted with the offsets held, and is kept
  only when it raises the rendered silhouette IoU by its `KEEP_GAIN` (a skirt that would poke
  out of trousers' silhouette costs more than it gains); the offsets then settle under the
  shells kept, and into the holes the masks still show: mask pixels the surface leaves
  uncovered (a puffy jacket closing the gap between arm and body) pull the nearest outline
  points too, since no boundary pixel lies there to do it.

The pose and placement stay as the fit left them. The descent uses the fit's silhouette terms
(`body.fitting.silhouette_loss`: projected points inside the mask, every boundary pixel near a
projected point seen edge-on), measured from the mask's edge; what is kept is judged by
rendering: candidate shells by the IoU they add, and a last move of the whole surface along its
normals by the fraction of a photo pixel (`SHIFTS_PX`) that renders best, since points place an
outline only to about a pixel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from humanmv.body.anny_model import PART_NAMES, AnnyBody, BodyParams
from humanmv.body.fitting import FitTargets, silhouette_fields, silhouette_loss
from humanmv.cameras import Cameras
from humanmv.eval.image_metrics import mask_iou
from humanmv.render.mesh import vertex_normals
from humanmv.shells.garments import ShellSpec, build_shells
from humanmv.shells.shell import BindBody, Shell, ShellPoser, dress_mesh

# How far (m) each part's surface may move out; inward moves are limited to INWARD of it.
OUTWARD_LIMIT = {"torso": 0.08, "upper_leg": 0.06, "upper_arm": 0.04, "lower_leg": 0.04, "lower_arm": 0.03,
                 "neck": 0.02, "head": 0.006, "hand": 0.01, "foot": 0.02, "eyes": 0.0}
INWARD = 0.35
# Candidate shells and the parameters fitted (initial values); all else is the kind's default.
CANDIDATES = (
    ShellSpec("short-hair", {"thickness": 0.015, "front": 0.045, "back": -0.07}),
    ShellSpec("skirt", {"hem": 0.0, "flare": 0.04, "gap": 0.012}),
    ShellSpec("long-hair", {"length": 0.25, "volume": 0.015}),
    ShellSpec("bun", {"radius": 0.04}),
)
# The silhouette IoU (weighted mean over the images) each must add to be kept.
KEEP_GAIN = {"short-hair": 0.003, "skirt": 0.005, "long-hair": 0.005, "bun": 0.003}
REACH = 0.1  # m: mask pixels farther than this from the surface are not its to cover
RENDER_SIZE = 192  # px, the long side of the masks candidates are judged on
HOLE_SIZE = 1024  # px, the long side of the masks uncovered pixels are found in
OUTLINE_COS = 0.3
# The final move along the normals, in photo pixels: the best of these, then +-0.25 px around it.
SHIFTS_PX = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
FITTED = {"skirt": ("hem", "flare"), "long-hair": ("length", "volume"), "bun": ("radius",),
          "short-hair": ("thickness",)}
BOUNDS = {"hem": (-0.6, 1.0), "flare": (0.0, 0.2), "length": (0.05, 0.6), "volume": (0.0, 0.08),
          "radius": (0.02, 0.07), "thickness": (0.004, 0.05)}


@dataclass
class SurfaceConfig:
    """iterations: Adam steps of the offsets alone; candidate_iterations: steps per candidate
    shell (with the offsets); a candidate is kept when it removes its `KEEP_GAIN` share of the
    silhouette loss. controls: basis control points; sigma: their radius (m)."""

    iterations: int = 80
    candidate_iterations: int = 15
    lr: float = 0.05
    controls: int = 800
    sigma: float = 0.03
    view_weight: float = 1.0
    laplacian_weight: float = 2.0
    edge_weight: float = 1.0
    symmetry_weight: float = 0.2
    point_stride: int = 3
    boundary_samples: int = 1000
    settle_iterations: int = 30
    hole_samples: int = 300
    hole_every: int = 10
    candidates: tuple[str, ...] = ("short-hair", "skirt", "long-hair", "bun")
    seed: int = 0


@dataclass
class SurfaceResult:
    """offsets: (V,) metres along the bind normals; specs / shells: the kept shells (bind);
    vertices: (V, 3) the offset body as placed (world); posed: (N_i, 3) each shell as placed;
    ious: the weighted silhouette IoU of the naked body, with the offsets, with each candidate
    tried (added to the shells kept before it), of the final surface before ("unshifted") and
    after its last move along the normals ("final"), and that move ("shift_px", photo pixels)."""

    offsets: torch.Tensor
    specs: list[ShellSpec]
    shells: list[Shell]
    vertices: torch.Tensor
    posed: list[torch.Tensor]
    ious: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class _Basis:
    """Offsets of every vertex from control values: a row-normalised Gaussian of the bind
    distance to controls of the same part (so the legs do not share offsets). The controls are
    vertex ids (`topology`), the same for every phenotype."""

    def __init__(self, bind: BindBody, ids: torch.Tensor, sigma: float) -> None:
        v = bind.vertices
        d2 = torch.cdist(v, v[ids]).square()
        same = bind.parts[:, None] == bind.parts[ids][None, :]
        w = torch.exp(-d2 / (2 * sigma**2)) * same
        nearest = torch.where(same, d2, torch.full_like(d2, float("inf"))).argmin(1)
        w[torch.arange(v.shape[0]), nearest] += 1e-6  # every vertex has a control of its part
        self.weights = w / w.sum(1, keepdim=True)  # (V, K)
        names = [n.split(".")[0] for n in PART_NAMES]
        limit = torch.tensor([OUTWARD_LIMIT[n] for n in names])
        self.limit = limit[bind.parts]  # (V,)

    def offsets(self, controls: torch.Tensor) -> torch.Tensor:
        x = self.weights @ controls
        return torch.where(x > 0, torch.tanh(x), INWARD * torch.tanh(x)) * self.limit


_TOPOLOGY: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def topology(body: AnnyBody, controls: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(control vertex ids (K,), mirror vertex of each vertex (V,), edges (E, 2)) on Anny's
    neutral body, computed once per process (they depend on the mesh, not on the person)."""
    key = (body.num_vertices, controls, seed)
    if key not in _TOPOLOGY:
        with torch.no_grad():
            v = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0].float()
        _TOPOLOGY[key] = (_farthest_points(v, controls, np.random.default_rng(seed)), _mirror_index(v),
                          _edges(body.faces))
    return _TOPOLOGY[key]


def _farthest_points(v: torch.Tensor, count: int, rng: np.random.Generator) -> torch.Tensor:
    ids = [int(rng.integers(v.shape[0]))]
    dist = (v - v[ids[0]]).norm(dim=-1)
    for _ in range(count - 1):
        ids.append(int(dist.argmax()))
        dist = torch.minimum(dist, (v - v[ids[-1]]).norm(dim=-1))
    return torch.tensor(ids)


def _mirror_index(v: torch.Tensor) -> torch.Tensor:
    """(V,) the vertex nearest each vertex's mirror image (x -> -x)."""
    from scipy.spatial import cKDTree

    mirrored = (v * torch.tensor([-1.0, 1.0, 1.0])).numpy()
    return torch.from_numpy(cKDTree(v.numpy()).query(mirrored)[1]).long()


def _edges(faces: torch.Tensor) -> torch.Tensor:
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return torch.unique(torch.sort(e, 1).values, dim=0)


@dataclass
class _Silhouettes:
    """The silhouettes the surface is fitted to: per image, its camera, fields and weight, and
    the mask and camera (at most `RENDER_SIZE` px) its IoU is judged at."""

    cameras: list[Cameras]
    fields: list[tuple]
    sizes: list[tuple[int, int]]
    weights: list[float]
    judge_cameras: list[Cameras] = field(default_factory=list)
    judge_masks: list[torch.Tensor] = field(default_factory=list)
    masks: list[torch.Tensor] = field(default_factory=list)
    # Per image, (C, 2) mask pixels the surface does not yet cover (`find_uncovered`).
    uncovered: list[torch.Tensor] = field(default_factory=list)

    def add(self, camera: Cameras, mask: np.ndarray, weight: float, samples: int, rng: np.random.Generator) -> None:
        h, w = mask.shape
        self.cameras.append(camera)
        self.fields.append(silhouette_fields(mask, samples, rng, at_edge=True))
        self.sizes.append((w, h))
        self.weights.append(weight)
        self.masks.append(torch.from_numpy(mask))
        scale = min(1.0, RENDER_SIZE / max(w, h))
        jw, jh = max(8, round(w * scale)), max(8, round(h * scale))
        self.judge_cameras.append(camera.resized(jw, jh))
        small = torch.nn.functional.interpolate(torch.from_numpy(mask.astype(np.float32))[None, None], (jh, jw),
                                                mode="area")[0, 0]
        self.judge_masks.append(small > 0.5)
        self.uncovered.append(torch.zeros(0, 2))

    def find_uncovered(self, mesh, renderer, points: torch.Tensor, samples: int, rng: np.random.Generator) -> None:
        """Sample each mask's pixels that `mesh` leaves uncovered by more than a pixel (of the
        mask at most `HOLE_SIZE` px) and within `REACH` metres of what it covers: a hole inside
        the mask (a jacket filling the gap between arm and body, trousers touching between the
        legs) has no boundary pixel to pull the outline out. points: (N, 3) the surface, for the
        metres per pixel of each image."""
        from scipy import ndimage

        for i, (cam, target) in enumerate(zip(self.cameras, self.masks)):
            h, w = target.shape
            scale = min(1.0, HOLE_SIZE / max(w, h))
            sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
            small = target.numpy() if scale == 1.0 else torch.nn.functional.interpolate(
                target.float()[None, None], (sh, sw), mode="area")[0, 0].numpy() > 0.5
            drawn = renderer.render(mesh, cam.resized(sw, sh), outputs=("mask",)).mask[0, :sh, :sw].numpy() > 0.5
            gap = ndimage.distance_transform_edt(~drawn)
            reach = REACH / self.pixel_size(points, i) * sw / w
            ys, xs = np.nonzero(small & (gap > 1.0) & (gap <= reach))
            if len(xs) > samples:
                keep = rng.choice(len(xs), samples, replace=False)
                xs, ys = xs[keep], ys[keep]
            pixels = (np.stack([xs, ys], -1).astype(np.float32) + 0.5) * np.float32([w / sw, h / sh])
            self.uncovered[i] = torch.from_numpy(pixels)

    def loss(self, points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """points, normals: (N, 3). Only points seen edge-on (|cos| < `OUTLINE_COS` between the
        normal and the ray) are pulled to the boundary: a front-facing point just inside the
        outline is nearer a boundary pixel than the outline's own points, and pulling it out
        swells the body."""
        total = torch.zeros(())
        for cam, (dist, boundary), (w, h), weight, holes in zip(self.cameras, self.fields, self.sizes, self.weights,
                                                                self.uncovered):
            uv, _ = cam.project(points)
            with torch.no_grad():
                ray = torch.nn.functional.normalize(points - cam.centers[0], dim=-1)
                outline = (ray * normals).sum(-1).abs() < OUTLINE_COS
            pull = torch.cat([boundary, holes]) if len(holes) else boundary
            total = total + weight * silhouette_loss(uv[0], dist, pull, w, h, outline if outline.sum() > 16 else None)
        return total / max(sum(self.weights), 1e-6)

    def iou(self, mesh, renderer, full: bool = False) -> float:
        """The weighted mean silhouette IoU of `mesh` rendered at every image (at most
        `RENDER_SIZE` px, or each image's own size with `full`)."""
        cameras, masks = (self.cameras, self.masks) if full else (self.judge_cameras, self.judge_masks)
        total = 0.0
        for cam, target, weight in zip(cameras, masks, self.weights):
            drawn = renderer.render(mesh, cam, outputs=("mask",)).mask[:, :target.shape[0], :target.shape[1]]
            total += weight * float(mask_iou(drawn, target[None]))
        return total / max(sum(self.weights), 1e-6)

    def pixel_size(self, points: torch.Tensor, image: int = 0) -> float:
        """Metres per pixel at the centre of `points` (N, 3) in an image (default the photo's)."""
        cam = self.cameras[image]
        z = float((cam.world_to_cam[0, :3, :3] @ points.mean(0) + cam.world_to_cam[0, :3, 3])[2])
        return z / float(cam.K[0, 0, 0])


def fit_surface(body: AnnyBody, params: BodyParams, placement: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                photo_camera: Cameras, photo: FitTargets, renderer, views: list[tuple[Cameras, torch.Tensor]] | None = None,
                config: SurfaceConfig | None = None) -> SurfaceResult:
    """Fit offsets and shells to the photo's mask and to `views` [(camera (1 view), mask (H, W))].

    params: the body (batch 1); placement: (rotation (3, 3), translation (3,), centre (3,)) as in
    `recon.Avatar` (v = R (v_body - c) + c + t); renderer: judges each candidate shell by the
    silhouette IoU it adds (rendered masks: the point loss the fit descends rewards any extra
    points near a boundary, so it cannot say whether a shell is there)."""
    cfg = config or SurfaceConfig()
    start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    R, t, c = (x.float() for x in placement)
    place = lambda v: (v - c) @ R.T + c + t  # noqa: E731
    if photo.mask is None:
        raise ValueError("the surface stage needs the photo's person mask")
    sil = _Silhouettes([], [], [], [])
    sil.add(photo_camera, np.asarray(photo.mask) > 0.5, 1.0, cfg.boundary_samples, rng)
    for cam, mask in views or []:
        w, h = (int(x) for x in cam.sizes[0])
        sil.add(cam, mask[:h, :w].numpy() > 0.5, cfg.view_weight / max(len(views), 1), cfg.boundary_samples, rng)

    bind = BindBody.of(body, params)
    control_ids, mirror, edges = topology(body, cfg.controls, cfg.seed)
    basis = _Basis(bind, control_ids, cfg.sigma)
    with torch.no_grad():
        posed = place(body(params).vertices[0].float())
    normals = vertex_normals(posed, bind.faces)
    rest_len = (posed[edges[:, 0]] - posed[edges[:, 1]]).norm(dim=-1)
    poser = ShellPoser(body, params)
    pose = params.pose[0]
    stride = cfg.point_stride

    def body_terms(controls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
        d = basis.offsets(controls)
        verts = posed + d[:, None] * normals
        lap = d - torch.zeros_like(d).index_add(0, edges[:, 0], d[edges[:, 1]]).index_add(
            0, edges[:, 1], d[edges[:, 0]]) / _degree(edges, d.shape[0])
        length = (verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=-1)
        reg = {"laplacian": cfg.laplacian_weight * lap.square().mean() / 1e-4,
               "edge": cfg.edge_weight * ((length - rest_len) / rest_len.clamp_min(1e-4)).square().mean(),
               "symmetry": cfg.symmetry_weight * (d - d[mirror]).square().mean() / 1e-4}
        return d, verts, reg

    carried: dict[str, torch.Tensor] = {}

    def shell_points(specs: list[ShellSpec]):
        shells = build_shells(bind, _clamped(specs))
        pts = []
        for s in shells:
            if s.kind not in carried or carried[s.kind].shape[0] != s.vertices.shape[0]:
                carried[s.kind] = poser.carry(s.anchors, pose).float()
            T = carried[s.kind]
            pts.append(place((T[:, :3, :3] @ s.vertices[..., None])[..., 0] + T[:, :3, 3]))
        return shells, pts

    def run(specs: list[ShellSpec], controls: torch.Tensor, free: list[torch.Tensor], steps: int,
            holes: bool = False) -> None:
        """Adam on `free` (the controls and/or shell parameters) for `steps` steps; with `holes`,
        the mask pixels left uncovered pull the outline too."""
        groups = [{"params": [p], "lr": cfg.lr if p is controls else cfg.lr * 0.1} for p in free]
        opt = torch.optim.Adam(groups)
        fixed = None if any(p is controls for p in free) else body_terms(controls)
        for step in range(steps):
            opt.zero_grad()
            if fixed is None:
                d, verts, reg = body_terms(controls)
                reg_total = sum(reg.values())
            else:
                verts, reg_total = fixed[1].detach(), 0.0
            shells, pts = shell_points(specs)
            if holes and step % cfg.hole_every == 0:
                with torch.no_grad():
                    mesh = dress_mesh(body.mesh(verts.detach()), shells, [p.detach() for p in pts])
                sil.find_uncovered(mesh, renderer, verts.detach(), cfg.hole_samples, rng)
            sub = max(stride // 2, 1)
            points = torch.cat([verts[::stride]] + [p[::sub] for p in pts])
            with torch.no_grad():
                point_normals = torch.cat([normals[::stride]] + [vertex_normals(p, s.faces)[::sub]
                                                                 for s, p in zip(shells, pts)])
            loss = sil.loss(points, point_normals) + reg_total
            loss.backward()
            opt.step()

    def dressed_mesh(controls: torch.Tensor, specs: list[ShellSpec]):
        with torch.no_grad():
            d, verts, _ = body_terms(controls)
            shells, pts = shell_points(specs)
        return d, verts, shells, pts, dress_mesh(body.mesh(verts), shells, pts)

    ious: dict[str, float] = {"naked": sil.iou(body.mesh(posed), renderer)}
    controls = torch.zeros(basis.weights.shape[1], requires_grad=True)
    run([], controls, [controls], cfg.iterations)
    base = sil.iou(dressed_mesh(controls, [])[-1], renderer)
    ious["offsets"] = base
    kept: list[ShellSpec] = []
    for kind in cfg.candidates:
        spec = next(s for s in CANDIDATES if s.kind == kind)
        trial = ShellSpec(kind, {k: torch.tensor(float(v), requires_grad=k in FITTED[kind])
                                 for k, v in spec.params.items()})
        free = [p for p in trial.params.values() if p.requires_grad]
        run(kept + [trial], controls, free, cfg.candidate_iterations)
        for p in free:
            p.requires_grad_(False)
        score = sil.iou(dressed_mesh(controls, kept + [trial])[-1], renderer)
        ious[kind] = score
        if score >= base + KEEP_GAIN[kind]:
            kept.append(trial)
            base = score
    # The offsets settle under the shells kept and into the holes left in the masks. Only now: a
    # skirt's mask between the legs is such a hole, and thighs swollen into it would leave the
    # skirt nothing to add.
    if kept or cfg.hole_samples:
        run(kept, controls, [controls], cfg.settle_iterations, holes=cfg.hole_samples > 0)
    final = [ShellSpec(s.kind, {k: float(v) for k, v in _clamped([s])[0].params.items()}) for s in kept]
    d, verts, shells, pts, _ = dressed_mesh(controls, final)
    # The point loss places an outline only to within a pixel (the nearest projected vertex of
    # a boundary pixel may lie inside the outline); the body is finally moved along its normals
    # by the fraction of a pixel that renders best.
    movable = (basis.limit > 0).float()
    px = sil.pixel_size(verts)
    scored: dict[float, float] = {}

    def score(k: float) -> tuple[float, float, float]:
        if k not in scored:
            moved = verts + (k * px * movable)[:, None] * normals
            scored[k] = sil.iou(dress_mesh(body.mesh(moved), shells, pts), renderer, full=True)
        return scored[k], -abs(k), k

    _, _, coarse = max(score(k) for k in SHIFTS_PX)
    best, _, k = max(score(coarse + f) for f in (-0.25, 0.0, 0.25))
    ious["unshifted"] = scored[0.0]
    d = d + k * px * movable
    verts = posed + d[:, None] * normals
    ious["final"] = best
    ious["shift_px"] = k
    return SurfaceResult(d.detach(), final, shells, verts.detach(), [p.detach() for p in pts], ious,
                         time.perf_counter() - start)


def _degree(edges: torch.Tensor, V: int) -> torch.Tensor:
    ones = torch.ones(edges.shape[0])
    return (torch.zeros(V).index_add(0, edges[:, 0], ones).index_add(0, edges[:, 1], ones)).clamp_min(1)


def _clamped(specs: list[ShellSpec]) -> list[ShellSpec]:
    """The specs with fitted parameters held inside their bounds (differentiably)."""
    out = []
    for s in specs:
        params = {}
        for k, v in s.params.items():
            lo, hi = BOUNDS.get(k, (None, None))
            params[k] = v.clamp(lo, hi) if torch.is_tensor(v) and lo is not None else v
        out.append(ShellSpec(s.kind, params))
    return out
