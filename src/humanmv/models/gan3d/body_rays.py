"""The geometry of 3DHumanGAN's pose mapping: camera rays near a posed body, taken to canonical space.

Nothing here is learned. For one posed Anny body and C cameras at the style-map resolution:

1. render `face_id` and `depth` (the renderer's hard rasterisation: the triangle covering each
   pixel centre);
2. per foreground pixel, the hit point X: the pixel's ray (through its centre, integer + 0.5)
   cut with the plane of the hit triangle (the rendered depth unprojected, without its
   float-buffer rounding), and X's barycentric coordinates in that posed triangle;
3. the blend matrix A(p) = sum_i b_i A_i of the triangle's vertices, A_v = sum_j w_vj M_j being
   vertex v's linear-blend-skinning matrix (Anny's bone matrices `AnnyBody.skin_transforms`,
   up to 9 bones per vertex);
4. S samples per ray at distances t in [r - delta, r + delta] from the camera centre, r = |X - o|
   (stratified: one uniform draw per bin from a torch.Generator; bin midpoints without one);
5. every sample x (world frame) to canonical space, x_c = A(p)^-1 x (inverse LBS), and the ray
   direction to d_c = normalize(L(p)^-1 d), L(p) the 3x3 part of A(p).

3DHumanGAN's psi is the inverse LBS with the blend weights of the vertex NEAREST to x. We use the
weights interpolated at the ray's surface hit p for all S samples of the ray: a nearest-surface
approximation, exact at the surface (t = r), continuous across triangles (no jumps between
vertices), and cheap (one 4x4 inverse per ray, not a nearest-vertex search per sample). Off the
surface it differs from the nearest-vertex rule only where the nearest surface point is not the
ray's hit (grazing rays, concave creases); the shell is thin (a few cm).

Frames: world = metres, Y up, subject facing +Z (`humanmv.cameras`). Canonical = Anny's REST pose
(its A-pose, with the subject's phenotype), in world axes: A_v^-1 takes a posed vertex to its rest
position (`rest_vertices`). Anny's rest is not its pose zero (they differ by a few cm).

Background pixels get no samples: every output is dense [C, Hs, Ws, ...] with zeros (labels -1)
on the background, and `ShellSamples.foreground` indexes the foreground rays, so a network runs
only on those.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from humanmv.cameras import Cameras
from humanmv.models.ray_marching import pixel_rays


@dataclass
class PosedBody:
    """One posed body, everything in the world frame.

    Attributes:
        vertices: [V, 3] float32 posed positions, metres.
        blend: [V, 4, 4] float32 per-vertex LBS matrices, rest -> posed (`vertex_blend_matrices`).
        faces: [F, 3] int64 vertex indices.
        face_labels: [F] int64 part label per face (`PART_NAMES` order).
    """

    vertices: torch.Tensor
    blend: torch.Tensor
    faces: torch.Tensor
    face_labels: torch.Tensor

    @classmethod
    def from_anny(cls, body, params, index: int = 0) -> "PosedBody":
        """Body `index` of `params` (BodyParams) posed by `body` (AnnyBody), CPU float32."""
        from humanmv.body.anny_model import BodyParams

        one = BodyParams(params.pose[index:index + 1], params.phenotype[index:index + 1],
                         params.expression[index:index + 1])
        with torch.no_grad():
            vertices = body(one).vertices[0]
            skin = body.skin_transforms(one)[0]
        blend = vertex_blend_matrices(skin, body.anny.vertex_bone_weights.cpu(), body.anny.vertex_bone_indices.cpu())
        return cls(vertices.float(), blend, body.faces, body.face_labels)

    def mesh(self):
        """A `render.Mesh` with the part labels (what `shell_samples` renders)."""
        from humanmv.render import Mesh

        return Mesh(vertices=self.vertices.detach().float().cpu(), faces=self.faces.cpu(),
                    face_labels=self.face_labels.cpu())


def vertex_blend_matrices(skin: torch.Tensor, weights: torch.Tensor, bones: torch.Tensor) -> torch.Tensor:
    """Per-vertex linear blend skinning matrices A_v = sum_k w_vk M_{j_vk}.

    Args:
        skin: [J, 4, 4] per-bone skinning matrices (rest -> posed, world frame).
        weights: [V, Kb] blend weights (rows sum to 1; Anny: Kb = 9).
        bones: [V, Kb] bone indices into J.
    Returns:
        [V, 4, 4] float32 on skin's device; posed vertex = A_v @ [rest vertex; 1].
    """
    assert skin.ndim == 3 and skin.shape[1:] == (4, 4), skin.shape
    assert weights.shape == bones.shape and weights.ndim == 2, (weights.shape, bones.shape)
    skin = skin.float()
    w = weights.to(skin.device, torch.float32)
    return (w[..., None, None] * skin[bones.to(skin.device).long()]).sum(1)


def rest_vertices(body, params) -> torch.Tensor:
    """[B, V, 3] float32 CPU: Anny's rest vertices (the canonical space) of `params`' phenotype and
    expression, in world axes. Pose does not change them."""
    with torch.no_grad():
        J = len(body.bone_names)
        identity = torch.eye(4, device=body.device).repeat(params.pose.shape[0], J, 1, 1)
        out = body.anny(pose_parameters=identity, phenotype_kwargs=params.phenotype.to(body.device),
                        facial_actions=params.expression.to(body.device))
        return (out["rest_vertices"] @ body.to_world.T).float().cpu()


@dataclass
class ShellSamples:
    """Samples of C views' foreground rays in a thin shell around the body surface.

    Dense per-pixel tensors, zero on the background (labels -1); `foreground` lists the rays
    that carry samples. Hs x Ws = the cameras' canvas (the style-map resolution).

    Attributes:
        canonical: [C, Hs, Ws, S, 3] sample positions in canonical (Anny rest, world axes) space.
        directions: [C, Hs, Ws, 3] unit ray directions in canonical space.
        deltas: [C, Hs, Ws, S] metres from each sample to the next (the last: one bin width),
            the spacing for ray integration.
        mask: [C, Hs, Ws] float32 1 where the body covers the pixel centre.
        labels: [C, Hs, Ws] int64 part label of the visible face, -1 on the background.
        foreground: [N] int64 flat indices into C * Hs * Ws of the foreground pixels (ascending).
        points: [C, Hs, Ws, S, 3] sample positions in the world frame.
        distances: [C, Hs, Ws, S] metres from the camera centre along the unit ray, ascending.
        surface: [C, Hs, Ws, 3] world hit point X of each ray.
        barycentric: [C, Hs, Ws, 3] X's barycentric coordinates in the hit triangle.
        face_id: [C, Hs, Ws] int64 hit triangle, -1 on the background.
        blend: [C, Hs, Ws, 4, 4] the interpolated LBS matrix A(p) (rest -> posed); identity on
            the background.
    """

    canonical: torch.Tensor
    directions: torch.Tensor
    deltas: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    foreground: torch.Tensor
    points: torch.Tensor
    distances: torch.Tensor
    surface: torch.Tensor
    barycentric: torch.Tensor
    face_id: torch.Tensor
    blend: torch.Tensor

    @property
    def num_views(self) -> int:
        return self.mask.shape[0]

    @property
    def samples_per_ray(self) -> int:
        return self.deltas.shape[-1]

    @property
    def size(self) -> tuple[int, int]:
        """(Hs, Ws)."""
        return tuple(self.mask.shape[1:])

    def to(self, device: str | torch.device) -> "ShellSamples":
        return ShellSamples(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @classmethod
    def cat(cls, parts: list["ShellSamples"]) -> "ShellSamples":
        """The views of `parts` in order (e.g. B persons' samples -> one batch of B views)."""
        assert parts and len({p.size for p in parts}) == 1 and len({p.samples_per_ray for p in parts}) == 1
        offsets, total = [], 0
        for p in parts:
            offsets.append(total)
            total += p.mask.numel()
        merged = {f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(cls) if f.name != "foreground"}
        merged["foreground"] = torch.cat([p.foreground + o for p, o in zip(parts, offsets)])
        return cls(**merged)


def barycentric_coordinates(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """[N, 3] barycentric coordinates (of a, b, c) of points [N, 3] projected onto the planes of
    the triangles a, b, c [N, 3]; clamped to >= 0 and renormalised, because pixel centres on a
    triangle's edge can land a rounding error outside it."""
    v0, v1, v2 = b - a, c - a, points - a
    d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
    d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
    denom = (d00 * d11 - d01 * d01).clamp_min(1e-20)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    bary = torch.stack([1 - v - w, v, w], -1).clamp_min(0)
    return bary / bary.sum(-1, keepdim=True).clamp_min(1e-12)


def shell_distances(hit: torch.Tensor, half_thickness: float, samples: int,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified distances in [hit - delta, hit + delta] and their integration spacing.

    Args:
        hit: [N] distance of the surface along each unit ray, metres.
        generator: one uniform draw per bin from it (on hit's device); None: bin midpoints.
    Returns:
        t [N, S] ascending; deltas [N, S] = t[k+1] - t[k], the last one the bin width 2 delta / S.
    """
    N = hit.shape[0]
    width = 2 * half_thickness / samples
    if generator is None:
        jitter = torch.full((N, samples), 0.5, device=hit.device)
    else:
        jitter = torch.rand(N, samples, generator=generator, device=hit.device)
    k = torch.arange(samples, device=hit.device, dtype=torch.float32)
    t = hit[:, None] - half_thickness + (k + jitter) * width
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((N, 1), width, device=hit.device)], 1)
    return t, deltas


def render_labels(posed: PosedBody, cameras: Cameras, renderer) -> torch.Tensor:
    """[C, H, W] int64 part labels of `posed` seen by `cameras` (e.g. at the image resolution:
    the label map a generated image is conditioned on), -1 on the background; CPU."""
    return renderer.render(posed.mesh(), cameras, outputs=("labels",)).labels.cpu()


def shell_samples(posed: PosedBody, cameras: Cameras, renderer, half_thickness: float, samples_per_ray: int,
                  generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> ShellSamples:
    """Samples of the foreground rays of `cameras` in a shell around `posed`'s surface.

    Args:
        posed: the body (world frame).
        cameras: C cameras at the style-map resolution (canvas Hs x Ws = cameras.height x width;
            a smaller view's pixels off its own size are background).
        renderer: a `render.Renderer` (face ids and depth).
        half_thickness: delta, metres along the ray.
        samples_per_ray: S.
        generator: stratified jitter (on `device`); None: bin midpoints (deterministic).
        device: where the geometry is computed and the outputs live.
    Returns:
        ShellSamples (see its docstring), float32 on `device`.
    """
    assert half_thickness > 0 and samples_per_ray >= 1, (half_thickness, samples_per_ray)
    C, H, W, S = len(cameras), cameras.height, cameras.width, samples_per_ray
    out = renderer.render(posed.mesh(), cameras, outputs=("mask", "depth", "face_id"))
    face_id = out.face_id.to(device)
    depth = out.depth.to(device, torch.float32)
    mask = (face_id >= 0).float()
    assert torch.equal(mask.cpu(), out.mask.float().cpu()), "face ids and mask disagree"

    origins, dirs = pixel_rays(cameras, device)  # [C, 3], [C, H, W, 3]
    fg = torch.nonzero(face_id.reshape(-1) >= 0)[:, 0]
    view = fg // (H * W)
    fid = face_id.reshape(-1)[fg]
    o, d = origins[view], dirs.reshape(-1, 3)[fg]  # [N, 3]
    vertices = posed.vertices.to(device, torch.float32)
    tri = posed.faces.to(device)[fid]  # [N, 3]
    a, b, c = vertices[tri[:, 0]], vertices[tri[:, 1]], vertices[tri[:, 2]]

    # Cut the ray with the triangle's plane; where the ray grazes it, unproject the depth
    # instead (camera z = t * cos of the ray with the optical axis).
    normal = torch.cross(b - a, c - a, dim=-1)
    along = (normal * d).sum(-1)
    grazing = along.abs() < 1e-6 * normal.norm(dim=-1).clamp_min(1e-20)
    r_plane = (normal * (a - o)).sum(-1) / torch.where(grazing, torch.ones_like(along), along)
    axis = cameras.world_to_cam[:, 2, :3].to(device, torch.float32)[view]  # camera z axis, world frame
    r_depth = depth.reshape(-1)[fg] / (d * axis).sum(-1).clamp_min(1e-6)
    r = torch.where(grazing, r_depth, r_plane)
    hit = o + r[:, None] * d
    bary = barycentric_coordinates(hit, a, b, c)

    blend_v = posed.blend.to(device, torch.float32)
    A = (bary[:, :, None, None] * blend_v[tri]).sum(1)  # [N, 4, 4]
    L_inv = torch.linalg.inv(A[:, :3, :3])
    t, deltas = shell_distances(r, half_thickness, S, generator)
    points = o[:, None] + t[..., None] * d[:, None]  # [N, S, 3] world
    canonical = torch.einsum("nij,nsj->nsi", L_inv, points - A[:, None, :3, 3])
    canon_dirs = torch.nn.functional.normalize(torch.einsum("nij,nj->ni", L_inv, d), dim=-1)

    def dense(values: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        full = torch.full((C * H * W, *values.shape[1:]), fill, dtype=values.dtype, device=device)
        full[fg] = values
        return full.reshape(C, H, W, *values.shape[1:])

    labels = posed.face_labels.to(device)[face_id.clamp_min(0)]
    blend = torch.eye(4, device=device).repeat(C * H * W, 1, 1)
    blend[fg] = A
    return ShellSamples(
        canonical=dense(canonical), directions=dense(canon_dirs), deltas=dense(deltas), mask=mask,
        labels=torch.where(face_id >= 0, labels, torch.full_like(labels, -1)), foreground=fg,
        points=dense(points), distances=dense(t), surface=dense(hit), barycentric=dense(bary),
        face_id=face_id, blend=blend.reshape(C, H, W, 4, 4))


__all__ = ["PosedBody", "ShellSamples", "vertex_blend_matrices", "rest_vertices", "pixel_rays",
           "barycentric_coordinates", "shell_distances", "render_labels", "shell_samples"]
