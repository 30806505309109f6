"""Rasterise a mesh in its UV layout: for every texel, the triangle, world position and world
normal it carries. Texture projection and completion work texel by texel on these maps.

Texel (row, col) of a size-S map covers v in [1 - (row + 1) / S, 1 - row / S]: row 0 is v = 1,
the same orientation as our textures (image row = (1 - v) * S).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanmv.render.context import context_lock, get_context
from humanmv.render.mesh import Mesh, vertex_normals

_VERTEX = """
#version 330
in vec2 in_uv;
in vec3 in_pos;
in vec3 in_nrm;
in float in_face;
out vec3 v_pos;
out vec3 v_nrm;
flat out float v_face;
void main() {
    v_pos = in_pos;
    v_nrm = in_nrm;
    v_face = in_face;
    gl_Position = vec4(in_uv * 2.0 - 1.0, 0.0, 1.0);
}
"""

_FRAGMENT = """
#version 330
in vec3 v_pos;
in vec3 v_nrm;
flat in float v_face;
layout(location = 0) out vec4 out_pos;
layout(location = 1) out vec4 out_nrm;
void main() {
    out_pos = vec4(v_pos, v_face);
    out_nrm = vec4(normalize(v_nrm), 1.0);
}
"""


@dataclass
class UVRaster:
    """Per-texel maps of a mesh in UV space (S x S, row 0 = v 1).

    face_id: (S, S) int64, -1 where no triangle covers the texel centre.
    position: (S, S, 3) float32 world position; normal: (S, S, 3) float32 unit world normal.
    mask: (S, S) bool, texels covered by a triangle.
    """

    face_id: torch.Tensor
    position: torch.Tensor
    normal: torch.Tensor
    mask: torch.Tensor

    @property
    def size(self) -> int:
        return self.face_id.shape[0]


def rasterize_uv(mesh: Mesh, size: int) -> UVRaster:
    """Rasterise `mesh` (needs `uvs`; `uv_faces` or per-vertex uvs) into size x size UV maps."""
    if mesh.uvs is None:
        raise ValueError("rasterize_uv needs a mesh with uvs")
    faces = mesh.faces.long()
    uv_faces = faces if mesh.uv_faces is None else mesh.uv_faces.long()
    verts = mesh.vertices.float()
    normals = vertex_normals(verts, faces)
    F = faces.shape[0]
    corner_uv = mesh.uvs.float()[uv_faces].reshape(-1, 2)
    corner_pos = verts[faces].reshape(-1, 3)
    corner_nrm = normals[faces].reshape(-1, 3)
    corner_face = torch.arange(F, dtype=torch.float32).repeat_interleave(3)[:, None]
    data = torch.cat([corner_uv, corner_pos, corner_nrm, corner_face], 1).numpy().astype("f4")

    ctx = get_context()
    with context_lock(), ctx:
        prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        vbo = ctx.buffer(data.tobytes())
        vao = ctx.vertex_array(prog, [(vbo, "2f 3f 3f 1f", "in_uv", "in_pos", "in_nrm", "in_face")])
        targets = [ctx.texture((size, size), 4, dtype="f4") for _ in range(2)]
        fbo = ctx.framebuffer(color_attachments=targets)
        try:
            fbo.use()
            fbo.clear(0.0, 0.0, 0.0, -1.0)  # face id -1 = empty
            ctx.disable(ctx.DEPTH_TEST | ctx.CULL_FACE)
            vao.render()
            pos = np.frombuffer(fbo.read(components=4, attachment=0, dtype="f4"), "f4").reshape(size, size, 4)
            nrm = np.frombuffer(fbo.read(components=4, attachment=1, dtype="f4"), "f4").reshape(size, size, 4)
        finally:
            for obj in (fbo, *targets, vao, vbo, prog):
                obj.release()
    # GL's row 0 is v = 0 (bottom); ours is v = 1.
    pos, nrm = np.ascontiguousarray(pos[::-1]), np.ascontiguousarray(nrm[::-1])
    face = torch.from_numpy(np.rint(pos[..., 3])).long()
    mask = face >= 0
    face[~mask] = -1
    return UVRaster(face, torch.from_numpy(pos[..., :3].copy()), torch.from_numpy(nrm[..., :3].copy()), mask)


@dataclass
class TexelViews:
    """Where C cameras see N surface points (e.g. the texels of a UV raster).

    grid: (C, 1, N, 2) the points' image positions in `grid_sample` units of the cameras'
    canvas ([-1, 1] across W x H = cameras.width x cameras.height, align_corners=False, pixel
    centres at integer + 0.5 as the renderer).
    visible: (C, N) bool, inside view i's own size (not just the canvas) and not hidden by the
    mesh (the camera's rendered depth there agrees with the point's depth within `tolerance`
    metres).
    facing: (C, N) cosine between each point's normal and its direction to the camera.
    """

    grid: torch.Tensor
    visible: torch.Tensor
    facing: torch.Tensor

    def sample(self, images: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """images (C, K, H, W) on the canvas -> (C, N, K) at the points (zeros outside it)."""
        return torch.nn.functional.grid_sample(images.float(), self.grid, mode=mode, padding_mode="zeros",
                                               align_corners=False)[:, :, 0].transpose(1, 2)


def texel_views(mesh: Mesh, positions: torch.Tensor, normals: torch.Tensor, cameras, renderer,
                tolerance: float = 0.02) -> TexelViews:
    """Which of C cameras (`Cameras`, any sizes) see the points `positions` (N, 3) of `mesh`'s
    surface (world, unit `normals` (N, 3)), rendered with `renderer` for the depth test."""
    W, H = cameras.width, cameras.height
    depth = renderer.render(mesh, cameras, outputs=("depth",)).depth  # (C, H, W)
    pix, z = cameras.project(positions)  # (C, N, 2), (C, N)
    grid = torch.stack([pix[..., 0] / W * 2 - 1, pix[..., 1] / H * 2 - 1], -1)[:, None]  # (C, 1, N, 2)
    views = TexelViews(grid, torch.zeros(0), torch.zeros(0))
    seen_depth = views.sample(depth[:, None], "nearest")[..., 0]
    # Past a smaller view's own size the canvas is background, but say so outright rather than
    # lean on the depth test there.
    in_frame = (grid[:, 0].abs() <= 1).all(-1) & (pix <= cameras.sizes[:, None].to(pix)).all(-1)
    views.visible = in_frame & (seen_depth > 0) & ((z - seen_depth).abs() < tolerance)
    to_camera = torch.nn.functional.normalize(cameras.centers[:, None] - positions[None], dim=-1)
    views.facing = (to_camera * normals[None]).sum(-1)
    return views
