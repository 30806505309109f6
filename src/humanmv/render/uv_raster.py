"""Rasterise a mesh in texture (UV) space: which triangle, surface point and normal each texel of
a texture holds.

Texel (row i, column j) of an S x S raster is the texture-space point
u = (j + 0.5) / S, v = 1 - (i + 0.5) / S, so row 0 is v = 1: the same image orientation as the
textures the renderer samples (image row = (1 - v) * S, see `renderer.py`). A texel belongs to
the triangle whose UV image covers its centre (GL's fill rule; no anti-aliasing); texels that no
triangle covers are empty (`face_id` -1). Triangles whose UV images overlap: the last one wins.

The UV layout depends on the topology only, so `face_id` and `bary` of one raster serve every
pose of the same mesh: `UVRaster.interpolate(values)` carries any per-vertex quantity (posed
positions, normals, colours) onto the texels without another GL pass.

Uses the process's shared GL context (`render/context.py`) under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanmv.render.context import context_lock, get_context
from humanmv.render.mesh import Mesh, check_mesh

_VERTEX = """
#version 330
in vec3 in_pos;      // world
in vec3 in_normal;   // world, outward
in vec2 in_uv;       // v up
in vec3 in_bary;     // one-hot corner
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_bary;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_bary = in_bary;
    // u -> window x; v = 1 -> window row 0 (the first row read back), so no flip on read-back.
    // w = 1: interpolation is linear in texture space, i.e. exact barycentrics.
    gl_Position = vec4(2.0 * in_uv.x - 1.0, 1.0 - 2.0 * in_uv.y, 0.0, 1.0);
}
"""

_FRAGMENT = """
#version 330
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_bary;
layout(location = 0) out float out_face;
layout(location = 1) out vec4 out_pos;
layout(location = 2) out vec4 out_normal;
layout(location = 3) out vec4 out_bary;
void main() {
    out_face = float(gl_PrimitiveID + 1);   // 0 stays empty
    out_pos = vec4(v_pos, 0.0);
    float len = length(v_normal);
    out_normal = vec4(len > 0.0 ? v_normal / len : vec3(0.0), 0.0);
    out_bary = vec4(v_bary, 0.0);
}
"""

_programs: dict[int, object] = {}  # id(context) -> program (one context per process)


@dataclass
class UVRaster:
    """Per-texel surface data of a mesh rasterised in UV space, S x S, row 0 = v 1.

    Attributes:
        face_id: (S, S) int64 index into the mesh's faces, -1 where no triangle covers the texel.
        bary: (S, S, 3) float32 barycentric weights of the texel centre on the face's three
            corners (order of `faces`), 0 on empty texels.
        position: (S, S, 3) float32 world position of the texel centre on the surface, 0 on empty.
        normal: (S, S, 3) float32 unit world normal (area-weighted vertex normals interpolated,
            pointing out of the mesh), 0 on empty texels.
        mask: (S, S) bool, face_id >= 0.
        faces: (F, 3) int64 the mesh's faces (what face_id and bary refer to).
    """

    face_id: torch.Tensor
    bary: torch.Tensor
    position: torch.Tensor
    normal: torch.Tensor
    mask: torch.Tensor
    faces: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.face_id.shape[0])

    def interpolate(self, values: torch.Tensor) -> torch.Tensor:
        """Per-vertex `values` (V, C) -> (S, S, C) at every texel centre (0 on empty texels).

        Any mesh of the same topology and UVs works (e.g. the posed body on a rest raster).
        """
        S = self.size
        out = torch.zeros(S, S, values.shape[1], dtype=values.dtype)
        m = self.mask
        corners = self.faces[self.face_id[m]]  # (N, 3)
        w = self.bary[m].to(values.dtype)  # (N, 3)
        out[m] = (values[corners] * w[..., None]).sum(1)
        return out


def oriented_vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(V, 3) unit area-weighted vertex normals pointing out of a closed mesh, whichever its
    winding (positive signed volume about the centroid, as the renderer does)."""
    v = vertices.detach().to("cpu", torch.float32).numpy()
    f = faces.detach().to("cpu", torch.int64).numpy()
    a = v[f[:, 0]]
    fn = np.cross(v[f[:, 1]] - a, v[f[:, 2]] - a)  # length 2 * area: area weighting
    if float(np.einsum("ij,ij->", fn, a - v.mean(0))) < 0:
        fn = -fn
    V = v.shape[0]
    vn = np.stack([sum(np.bincount(f[:, k], weights=fn[:, c], minlength=V) for k in range(3))
                   for c in range(3)], 1)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-20)
    return torch.from_numpy(vn.astype(np.float32))


def _program(ctx):
    key = id(ctx)
    if key not in _programs:
        _programs[key] = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
    return _programs[key]


def rasterize_uv(mesh: Mesh, size: int) -> UVRaster:
    """Rasterise `mesh` into an S x S texture-space grid (S = `size`).

    Args:
        mesh: a mesh with `uvs` (T, 2, v up) and optionally `uv_faces` (F, 3); world space.
        size: texels per side.
    Returns:
        UVRaster (shapes in its docstring), CPU tensors.
    """
    check_mesh(mesh)
    if mesh.uvs is None:
        raise ValueError("rasterize_uv needs a mesh with uvs")
    if not 1 <= size <= 8192:
        raise ValueError(f"size must be within 1..8192, got {size}")
    import moderngl

    v = mesh.vertices.detach().to("cpu", torch.float32)
    f = mesh.faces.detach().to("cpu", torch.int64)
    uv = mesh.uvs.detach().to("cpu", torch.float32)
    uv_f = f if mesh.uv_faces is None else mesh.uv_faces.detach().to("cpu", torch.int64)
    F = f.shape[0]
    S = int(size)
    normals = oriented_vertex_normals(v, f)
    # One GL vertex per corner (3F): corners need their own one-hot barycentric attribute.
    bary = torch.eye(3).repeat(F, 1)
    data = torch.cat([v[f.reshape(-1)], normals[f.reshape(-1)], uv[uv_f.reshape(-1)], bary], 1)
    data = np.ascontiguousarray(data.numpy(), dtype="f4")

    face = np.zeros((S, S), np.float32)
    pos = np.zeros((S, S, 3), np.float32)
    nrm = np.zeros((S, S, 3), np.float32)
    bar = np.zeros((S, S, 3), np.float32)
    if F:
        ctx = get_context()
        with context_lock(), ctx:
            prog = _program(ctx)
            objs = []
            try:
                targets = [ctx.texture((S, S), 1, dtype="f4")] + [
                    ctx.texture((S, S), 4, dtype="f4") for _ in range(3)]
                objs += targets
                fbo = ctx.framebuffer(color_attachments=targets)
                objs.append(fbo)
                vbo = ctx.buffer(data.tobytes())
                objs.append(vbo)
                vao = ctx.vertex_array(prog, [(vbo, "3f 3f 2f 3f", "in_pos", "in_normal", "in_uv",
                                               "in_bary")])
                objs.append(vao)
                fbo.use()
                fbo.clear(0.0, 0.0, 0.0, 0.0)
                ctx.enable_only(moderngl.NOTHING)  # no depth test, no culling
                vao.render(moderngl.TRIANGLES)
                fbo.read_into(face, components=1, attachment=0, dtype="f4")
                fbo.read_into(pos, components=3, attachment=1, dtype="f4")
                fbo.read_into(nrm, components=3, attachment=2, dtype="f4")
                fbo.read_into(bar, components=3, attachment=3, dtype="f4")
            finally:
                for obj in reversed(objs):
                    obj.release()
    face_id = torch.from_numpy(face).round().long() - 1
    return UVRaster(face_id=face_id, bary=torch.from_numpy(bar), position=torch.from_numpy(pos),
                    normal=torch.from_numpy(nrm), mask=face_id >= 0, faces=f)
