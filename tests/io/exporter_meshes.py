"""Small meshes and images shared by the exporter tests (imported by them; not a test module)."""

from __future__ import annotations

import numpy as np


def seamed_uv_sphere(radius: float = 0.5, n_lat: int = 12, n_lon: int = 24,
                     center=(0.0, 0.0, 0.0)):
    """Lat-long sphere with a UV seam: positions are shared across the seam at longitude 0 and
    at the poles, but texture coordinates are not (T > V). u = longitude / 360 (0 at +Z, growing
    towards +X), v = 1 at the north pole (+Y), 0 at the south pole (v up). Triangles wind
    counter-clockwise seen from outside.

    Returns vertices (V, 3) float32, faces (F, 3) int64, uvs (T, 2) float32, uv_faces (F, 3).
    """
    def vid(i: int, j: int) -> int:
        if i == 0:
            return 0
        if i == n_lat:
            return 1 + (n_lat - 1) * n_lon
        return 1 + (i - 1) * n_lon + j % n_lon

    def tid(i: int, j: int) -> int:
        return i * (n_lon + 1) + j

    theta = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    phi = np.arange(n_lon) * (2 * np.pi / n_lon)
    T, P = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(T) * np.sin(P), np.cos(T), np.sin(T) * np.cos(P)], -1).reshape(-1, 3)
    vertices = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]]) * radius + np.asarray(center)
    jj, ii = np.meshgrid(np.arange(n_lon + 1), np.arange(n_lat + 1))
    uvs = np.stack([jj / n_lon, 1 - ii / n_lat], -1).reshape(-1, 2)
    faces, uv_faces = [], []
    for i in range(n_lat):
        for j in range(n_lon):
            a, b, c, d = (i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1)
            for tri in ((a, c, b), (b, c, d)):
                if (i == 0 and tri[0] == a) or (i == n_lat - 1 and tri[0] == b):
                    continue  # the triangle degenerates to a line at a pole
                faces.append([vid(*p) for p in tri])
                uv_faces.append([tid(*p) for p in tri])
    return (vertices.astype(np.float32), np.array(faces, dtype=np.int64),
            uvs.astype(np.float32), np.array(uv_faces, dtype=np.int64))


QUADRANT_COLORS = {  # (top?, left?) -> RGB
    (True, True): (255, 0, 0), (True, False): (0, 255, 0),
    (False, True): (0, 0, 255), (False, False): (255, 255, 0),
}


def quadrant_texture(size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8, row 0 = top: red top-left, green top-right, blue bottom-left,
    yellow bottom-right."""
    tex = np.zeros((size, size, 3), np.uint8)
    h = size // 2
    for (top, left), rgb in QUADRANT_COLORS.items():
        rows = slice(0, h) if top else slice(h, size)
        tex[rows, slice(0, h) if left else slice(h, size)] = rgb
    return tex
