"""Meshes and render outputs as plain tensors, with the normal helpers the renderer uses.

Conventions: world space in metres, Y up; any triangle winding (the renderer orients it);
texture coordinates with v up (image row = (1 - v) * Ht for a texture whose row 0 is its top,
Anny's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Face ids travel through a float32 render target (exact integers up to 2**24).
MAX_FACES = 2**24 - 1


@dataclass
class Mesh:
    """A triangle mesh as plain tensors, world space (metres, Y up).

    Attributes:
        vertices: (V, 3) float32 positions.
        faces: (F, 3) int64 vertex indices, either winding.
        vertex_colors: (V, 3) float32 in [0, 1], optional.
        uvs: (T, 2) float32 texture coordinates, v up (image row = (1 - v) * Ht), optional.
        uv_faces: (F, 3) int64 indices into `uvs`; None means `uvs` is indexed like `vertices`.
        texture: (Ht, Wt, 3) float32 in [0, 1], row 0 = top of the image, optional.
        face_labels: (F,) int64 part label per face (>= 0), optional.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    vertex_colors: torch.Tensor | None = None
    uvs: torch.Tensor | None = None
    uv_faces: torch.Tensor | None = None
    texture: torch.Tensor | None = None
    face_labels: torch.Tensor | None = None


@dataclass
class RenderOutput:
    """Per-view images, row 0 at the top; a field is None when it was not asked for.

    H x W is the cameras' canvas: view i's image is its top-left `sizes[i]` corner and the
    rest is background, as every field below holds it.

    Attributes:
        mask: (C, H, W) float32, 1 where the mesh covers the pixel centre, else 0.
        depth: (C, H, W) float32 camera-space z in metres, 0 on the background.
        normal: (C, H, W, 3) float32 camera-space (OpenCV axes) unit normals facing the camera,
            0 on the background.
        normal_world: (C, H, W, 3) float32 the same normals in world axes.
        rgb: (C, H, W, 3) float32 in [0, 1]: the UV texture sampled bilinearly, else vertex
            colours, else grey Lambert shading under a headlight; 0 on the background.
        labels: (C, H, W) int64 `face_labels` of the visible face, -1 on the background.
        face_id: (C, H, W) int64 index of the visible triangle, -1 on the background.
        uv: (C, H, W, 2) float32 interpolated texture coordinates (v up), 0 on the background.
    """

    mask: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    normal: torch.Tensor | None = None
    normal_world: torch.Tensor | None = None
    rgb: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    face_id: torch.Tensor | None = None
    uv: torch.Tensor | None = None


# ---- normals -----------------------------------------------------------------------------------
def face_normals(vertices: torch.Tensor, faces: torch.Tensor, unit: bool = True) -> torch.Tensor:
    """(F, 3) face normals by the right-hand rule on the winding; length 2 * area if not `unit`."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    n = torch.cross(b - a, c - a, dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-20) if unit else n


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(V, 3) unit vertex normals: area-weighted sums of the adjacent faces' normals."""
    fn = face_normals(vertices, faces, unit=False)
    return area_weighted_normals(fn, faces, vertices.shape[0])


def area_weighted_normals(fn: torch.Tensor, faces: torch.Tensor, V: int) -> torch.Tensor:
    """(V, 3) unit vertex normals from (F, 3) face normals of length 2 * area (so summing them
    weights faces by area)."""
    vn = torch.zeros(V, 3, dtype=fn.dtype)
    for k in range(3):
        vn.index_add_(0, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-20)


def check_mesh(mesh: Mesh) -> None:
    """Raise ValueError when the mesh's tensors have the wrong shapes or out-of-range indices."""
    V, F = mesh.vertices.shape[0], mesh.faces.shape[0]
    if mesh.vertices.shape != (V, 3) or mesh.faces.shape != (F, 3):
        raise ValueError(f"mesh needs vertices (V,3) and faces (F,3), got "
                         f"{tuple(mesh.vertices.shape)} and {tuple(mesh.faces.shape)}")
    if F > MAX_FACES:
        raise ValueError(f"the renderer handles at most {MAX_FACES} faces, got {F}")
    if F and (int(mesh.faces.min()) < 0 or int(mesh.faces.max()) >= V):
        raise ValueError("mesh.faces index outside 0..V-1")
    if mesh.vertex_colors is not None and mesh.vertex_colors.shape != (V, 3):
        raise ValueError(f"vertex_colors must be (V,3)=({V},3), "
                         f"got {tuple(mesh.vertex_colors.shape)}")
    if mesh.face_labels is not None and mesh.face_labels.shape != (F,):
        raise ValueError(f"face_labels must be (F,)=({F},), got {tuple(mesh.face_labels.shape)}")
    if mesh.uvs is not None:
        T = mesh.uvs.shape[0]
        if mesh.uvs.shape != (T, 2):
            raise ValueError(f"uvs must be (T,2), got {tuple(mesh.uvs.shape)}")
        if mesh.uv_faces is None and T != V:
            raise ValueError(f"uvs without uv_faces must have one row per vertex ({V}), got {T}")
        if mesh.uv_faces is not None:
            if mesh.uv_faces.shape != (F, 3):
                raise ValueError(f"uv_faces must be (F,3), got {tuple(mesh.uv_faces.shape)}")
            if F and (int(mesh.uv_faces.min()) < 0 or int(mesh.uv_faces.max()) >= T):
                raise ValueError("mesh.uv_faces index outside 0..T-1")
    if mesh.texture is not None:
        if mesh.texture.dim() != 3 or mesh.texture.shape[2] != 3:
            raise ValueError(f"texture must be (Ht,Wt,3), got {tuple(mesh.texture.shape)}")
        if mesh.uvs is None:
            raise ValueError("a textured mesh needs uvs")
