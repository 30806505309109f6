"""Meshes and analytic references shared by the renderer tests (not collected as tests)."""

from __future__ import annotations

import math

import torch

from humanmv.cameras import Cameras, look_at, orbit_cameras
from humanmv.render import Mesh


# ---- meshes -------------------------------------------------------------------------------------
def uv_sphere(radius: float = 0.5, n_lat: int = 64, n_lon: int = 128) -> Mesh:
    """Sphere at the origin: poles on Y, n_lat latitude bands, n_lon longitude segments,
    triangles wound counter-clockwise seen from outside (outward right-hand normals)."""
    theta = torch.linspace(0, math.pi, n_lat + 1, dtype=torch.float64)[1:-1]
    phi = torch.arange(n_lon, dtype=torch.float64) * (2 * math.pi / n_lon)
    T, P = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([T.sin() * P.sin(), T.cos(), T.sin() * P.cos()], -1).reshape(-1, 3)
    v = torch.cat([torch.tensor([[0.0, 1, 0]], dtype=torch.float64), ring,
                   torch.tensor([[0.0, -1, 0]], dtype=torch.float64)]) * radius
    i = torch.arange(n_lat - 2)[:, None]
    j = torch.arange(n_lon)[None]
    a, b = 1 + i * n_lon + j, 1 + i * n_lon + (j + 1) % n_lon
    c, d = a + n_lon, b + n_lon
    band = torch.stack([torch.stack([a, c, b], -1), torch.stack([b, c, d], -1)], 2).reshape(-1, 3)
    j = torch.arange(n_lon)
    top = torch.stack([torch.zeros_like(j), 1 + j, 1 + (j + 1) % n_lon], -1)
    last, base = v.shape[0] - 1, 1 + (n_lat - 2) * n_lon
    bottom = torch.stack([torch.full_like(j, last), base + (j + 1) % n_lon, base + j], -1)
    return Mesh(v.float(), torch.cat([top, band, bottom]))


def quad(size: float = 1.0, z: float = 0.0) -> Mesh:
    """Square [-size, size]^2 in the plane z, facing +Z, uvs (0,0) bottom-left, (1,1) top-right."""
    v = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=torch.float32)
    vertices = torch.cat([v * size, torch.full((4, 1), z)], 1)
    return Mesh(vertices, torch.tensor([[0, 1, 2], [0, 2, 3]]), uvs=(v + 1) / 2)


AXES = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                    dtype=torch.float32)
SIDE_COLORS = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
                           dtype=torch.float32)


def cube() -> Mesh:
    """Unit cube [-0.5, 0.5]^3 built from 6 separate sides (24 vertices, 12 triangles, CCW from
    outside); side s has outward normal AXES[s], label s and colour SIDE_COLORS[s]."""
    verts, faces, colors = [], [], []
    for s, n in enumerate(AXES):
        # two in-plane axes (t1, t2) with t1 x t2 = n, so (0,1,2),(0,2,3) wind CCW about n
        t1 = torch.roll(n.abs(), 1) * (1 if n.sum() > 0 else -1)
        t2 = torch.linalg.cross(n, t1)
        for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            verts.append(0.5 * (n + a * t1 + b * t2))
            colors.append(SIDE_COLORS[s])
        k = 4 * s
        faces += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    faces_t = torch.tensor(faces)
    return Mesh(torch.stack(verts), faces_t, vertex_colors=torch.stack(colors),
                face_labels=torch.arange(12) // 2)


# ---- analytic reference -------------------------------------------------------------------------
def pixel_rays(cameras: Cameras) -> torch.Tensor:
    """(C, H, W, 3) float64 camera-space rays through pixel centres, scaled to z = 1."""
    H, W = cameras.height, cameras.width
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                          torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1)
    Kinv = torch.linalg.inv(cameras.K.double())
    return torch.einsum("cij,hwj->chwi", Kinv, pix)


def raycast_sphere(cameras: Cameras, radius: float, center=(0.0, 0.0, 0.0)):
    """Analytic (mask, depth, camera normal) of a sphere: (C,H,W) bool, (C,H,W), (C,H,W,3)."""
    rays = pixel_rays(cameras)
    w2c = cameras.world_to_cam.double()
    c = (w2c[:, :3, :3] @ torch.tensor(center, dtype=torch.float64) + w2c[:, :3, 3])[:, None, None]
    rr, rc, cc = (rays * rays).sum(-1), (rays * c).sum(-1), (c * c).sum(-1)
    disc = rc**2 - rr * (cc - radius**2)
    hit = disc > 0
    z = (rc - disc.clamp_min(0).sqrt()) / rr  # nearer root; rays have z = 1, so s = depth
    normal = (rays * z[..., None] - c) / radius
    return hit, torch.where(hit, z, 0), torch.where(hit[..., None], normal, 0)


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cos = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def offcentre_cameras(width: int = 176, height: int = 112) -> Cameras:
    """Non-square images, different fx/fy, principal point far from the centre."""
    eye = torch.tensor([[0.6, 0.4, 2.4], [-1.9, -0.7, -1.2]])
    w2c = look_at(eye, torch.tensor([[0.05, -0.02, 0.0]]).expand(2, 3), roll_deg=[0.0, 17.0])
    K = torch.tensor([[150.0, 0.0, 70.3], [0.0, 165.0, 61.7], [0.0, 0.0, 1.0]]).repeat(2, 1, 1)
    return Cameras(K, w2c, width, height)


SPHERE_CAMERAS = {
    "orbit": lambda: orbit_cameras([0, 60, 150, 270], [0, 30, -20, 75], distance=2.5,
                                   fov_deg=40, width=128, height=128),
    "offcentre": offcentre_cameras,
}


