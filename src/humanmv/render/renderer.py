"""The offscreen renderer: masks, linear depth, normals, colours, part labels, face ids, UVs.

Conventions (see docs/architecture.md and `humanmv.cameras`):
- Meshes are in world space (metres, Y up). Any triangle winding is accepted.
- Cameras are OpenCV pinholes: `K` in pixels with pixel centres at integer + 0.5, so a world point
  that `Cameras.project` maps to (u, v) lands in column floor(u), row floor(v) of every output.
  Row 0 of every output is the TOP of the image.
- Outputs are hard (no anti-aliasing): a pixel belongs to the triangle covering its centre.
- Cameras of different sizes render on one canvas (H x W = cameras.height x cameras.width):
  view i fills the top-left sizes[i] corner of its image, exactly as if rendered alone at its
  own size, and every other pixel is background in every output.
- Texture coordinates have v up: image row = (1 - v) * Ht for a texture whose row 0 is its top
  (Anny's and glTF-after-flip convention). `uv_faces=None` means `uvs` is indexed like vertices.

Usage:
    renderer = Renderer()
    out = renderer.render(mesh, cameras, outputs=("mask", "depth", "normal"))
    out.normal  # (C, H, W, 3) camera-space unit normals, 0 on the background
"""

from __future__ import annotations


import numpy as np
import torch

from humanmv.cameras import Cameras
from humanmv.render.context import context_lock, get_context
from humanmv.render.mesh import Mesh, RenderOutput, area_weighted_normals, check_mesh, face_normals
from humanmv.render.shaders import FRAGMENT, VERTEX, specialise

OUTPUT_NAMES = ("mask", "depth", "normal", "normal_world", "rgb", "labels", "face_id", "uv")
DEFAULT_OUTPUTS = ("mask", "depth", "normal", "rgb")
# rgb sources, in order of preference: UV texture, vertex colours, grey Lambert shading.
RGB_NONE, RGB_VERTEX, RGB_TEXTURE, RGB_GREY = 0, 1, 2, 3
# Render targets: name -> (GL components, components read back). 4-channel targets are read as
# 3 straight into (C, H, W, 3) outputs (RGB32F is not a required colour-renderable format).
TARGETS = {"depth": (1, 1), "normal": (4, 3), "rgb": (4, 3), "face": (1, 1), "uv": (2, 2)}


def projection_from_K(K: torch.Tensor, width: int | np.ndarray, height: int | np.ndarray,
                      near: float, far: float) -> np.ndarray:
    """(C, 4, 4) float64 OpenGL clip transforms of OpenCV camera coordinates, exact to `K`.

    `width`, `height`: the viewport size, one for all views or (C,) per view. Maps pixel u
    (x right) to window x = u and pixel v (y down) to window y = v, so GL's first
    framebuffer row is image row 0 (the top): no flip on read-back. OpenGL samples pixel centres
    at integer + 0.5, as `K` assumes. Linear camera z in [near, far] maps to NDC z in [-1, 1].
    The y-down mapping mirrors the screen, which swaps GL's front and back faces (the fragment
    shader accounts for it; nothing is culled).
    """
    K = K.detach().double().cpu().numpy()
    K = K / K[:, 2:3, 2:3]
    width, height = np.asarray(width, np.float64), np.asarray(height, np.float64)
    P = np.zeros((K.shape[0], 4, 4))
    P[:, 0, 0] = 2 * K[:, 0, 0] / width
    P[:, 0, 1] = 2 * K[:, 0, 1] / width
    P[:, 0, 2] = 2 * K[:, 0, 2] / width - 1
    P[:, 1, 1] = 2 * K[:, 1, 1] / height
    P[:, 1, 2] = 2 * K[:, 1, 2] / height - 1
    P[:, 2, 2] = (far + near) / (far - near)
    P[:, 2, 3] = -2 * far * near / (far - near)
    P[:, 3, 2] = 1
    return P


def _gl_mat4(m: np.ndarray) -> bytes:
    return np.ascontiguousarray(m.T, dtype="f4").tobytes()  # GLSL matrices are column-major


def _rgb_mode(mesh: Mesh) -> int:
    if mesh.texture is not None:
        return RGB_TEXTURE
    if mesh.vertex_colors is not None:
        return RGB_VERTEX
    return RGB_GREY


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float32)


def _texture01(texture: torch.Tensor) -> torch.Tensor:
    # Textures are float in [0, 1]; accept 8-bit images too rather than render them saturated.
    return _f32(texture) / 255 if texture.dtype == torch.uint8 else _f32(texture)


# ---- the renderer -----------------------------------------------------------------------------
class Renderer:
    """Rasterises a mesh into many cameras, one OpenGL pass per camera.

    Owns GL programs, render targets and framebuffers on the process's shared context and reuses
    them across calls (targets are rebuilt when the image size changes). Two sets of targets
    alternate between cameras so that GL rasterises one view while the previous one is read
    back. Thread-safe: calls are serialised on the shared context.

    Args:
        device: torch device the returned tensors are moved to (rendering itself runs on the GL
            device; here Mesa's llvmpipe on the CPU).
    """

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.ctx = get_context()
        self._programs: dict[tuple, object] = {}
        self._size: tuple[int, int] | None = None
        self._targets: dict[tuple[int, str], object] = {}
        self._framebuffers: dict[tuple, object] = {}

    # -- GL resources ---------------------------------------------------------------------------
    def _program(self, targets: tuple[str, ...], rgb_mode: int, has_uv: bool):
        key = (targets, rgb_mode, has_uv)
        if key not in self._programs:
            defines = {"RGB_MODE": rgb_mode, "HAS_UV": has_uv,
                       "NEED_NORMAL": "normal" in targets or rgb_mode == RGB_GREY}
            for name in TARGETS:
                defines[f"WRITE_{name.upper()}"] = name in targets
                defines[f"LOC_{name.upper()}"] = targets.index(name) if name in targets else 0
            prog = self.ctx.program(vertex_shader=specialise(VERTEX, defines),
                                    fragment_shader=specialise(FRAGMENT, defines))
            if "u_texture" in set(prog):
                prog["u_texture"].value = 0
            self._programs[key] = prog
        return self._programs[key]

    def _framebuffer(self, width: int, height: int, targets: tuple[str, ...], slot: int):
        if self._size != (width, height):
            self._release_targets()
            self._size = (width, height)
        key = (targets, slot)
        if key not in self._framebuffers:
            for name in targets + ("zbuffer",):
                if (slot, name) not in self._targets:
                    self._targets[slot, name] = (
                        self.ctx.depth_renderbuffer(self._size) if name == "zbuffer" else
                        self.ctx.texture(self._size, TARGETS[name][0], dtype="f4"))
            self._framebuffers[key] = self.ctx.framebuffer(
                color_attachments=[self._targets[slot, n] for n in targets],
                depth_attachment=self._targets[slot, "zbuffer"])
        return self._framebuffers[key]

    def _release_targets(self) -> None:
        for obj in list(self._framebuffers.values()) + list(self._targets.values()):
            obj.release()
        self._framebuffers, self._targets, self._size = {}, {}, None

    def release(self) -> None:
        """Free this renderer's GL objects (the shared context stays)."""
        with context_lock(), self.ctx:
            self._release_targets()
            for prog in self._programs.values():
                prog.release()
            self._programs = {}

    # -- rendering ------------------------------------------------------------------------------
    def render(self, mesh: Mesh, cameras: Cameras, outputs=DEFAULT_OUTPUTS, near: float = 0.01,
               far: float = 100.0, smooth_normals: bool = True) -> RenderOutput:
        """Render `mesh` into every camera.

        Args:
            mesh: the mesh, world space.
            cameras: C cameras (`K` (C,3,3), `world_to_cam` (C,4,4), OpenCV axes) on a
                canvas of W x H = cameras.width x cameras.height; view i is drawn in the
                top-left `cameras.sizes[i]` corner and background fills the rest.
            outputs: names among OUTPUT_NAMES; only these are computed and read back.
            near, far: clip distances along camera z (metres).
            smooth_normals: interpolate area-weighted vertex normals (True) or use the flat
                face normal (False). Either way normals point out of closed meshes whatever
                their winding, and back faces seen through holes or from inside are flipped to
                face the camera.
        Returns:
            RenderOutput with the asked fields set (shapes in its docstring), on `self.device`.
        """
        want = set(outputs)
        unknown = want - set(OUTPUT_NAMES)
        if unknown:
            raise ValueError(f"unknown render outputs {sorted(unknown)}; "
                             f"choose from {OUTPUT_NAMES}")
        if not 0 < near < far:
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        check_mesh(mesh)
        if "labels" in want and mesh.face_labels is None:
            raise ValueError("labels were asked for but the mesh has no face_labels")
        if "uv" in want and mesh.uvs is None:
            raise ValueError("uv was asked for but the mesh has no uvs")

        # depth is always drawn: it is the mask (z > near > 0 on the mesh, 0 elsewhere).
        targets = ("depth",) + tuple(name for name, needed in (
            ("normal", bool(want & {"normal", "normal_world"})),
            ("rgb", "rgb" in want),
            ("face", bool(want & {"face_id", "labels"})),
            ("uv", "uv" in want)) if needed)
        rgb_mode = _rgb_mode(mesh) if "rgb" in targets else RGB_NONE
        has_uv = "uv" in targets or rgb_mode == RGB_TEXTURE
        C, W, H = len(cameras), int(cameras.width), int(cameras.height)
        # Every pixel of every view is overwritten by the read-back (the clear covers the whole
        # canvas), so no zero-filling.
        drawn = C > 0 and mesh.faces.shape[0] > 0
        alloc = torch.empty if drawn else torch.zeros
        images = {name: alloc((C, H, W, TARGETS[name][1]) if TARGETS[name][1] > 1 else (C, H, W))
                  for name in targets}
        if drawn:
            need_normal = "normal" in targets or rgb_mode == RGB_GREY
            normals = ("smooth" if smooth_normals else "flat") if need_normal else None
            geom = self._prepare(mesh, normals, rgb_mode, has_uv)
            w2c = cameras.world_to_cam.detach().double().cpu().numpy()
            sizes = cameras.sizes.numpy()
            proj = projection_from_K(cameras.K, sizes[:, 0], sizes[:, 1], near, far)
            with context_lock(), self.ctx:
                self._draw(geom, w2c, proj, sizes, W, H, images, targets, rgb_mode, has_uv)
        return self._assemble(images, want, mesh, cameras)

    def _prepare(self, mesh: Mesh, normals: str | None, rgb_mode: int, has_uv: bool) -> dict:
        """Interleaved vertex data (numpy float32), triangle indices and texture for upload.

        `normals`: None (not needed), "smooth" or "flat". GL has one index per drawn vertex, so
        vertices are split where a corner's attributes differ: along UV seams, and at every
        corner for flat normals. Face order is kept, so face ids index `mesh.faces`.
        """
        v, f = _f32(mesh.vertices), mesh.faces.detach().to("cpu", torch.int64)
        F = f.shape[0]
        uv_f = (mesh.uv_faces.detach().to("cpu", torch.int64)
                if has_uv and mesh.uv_faces is not None else None)
        if normals:
            # Orient the winding outwards (positive signed volume about the centroid), so normals
            # point out of closed meshes whichever way they were wound; reversing the corner
            # order keeps face ids. Flat/open meshes (volume 0) keep their winding.
            fn = face_normals(v, f, unit=False)
            if float((fn * (v[f[:, 0]] - v.mean(0))).sum()) < 0:
                f, fn = f[:, [0, 2, 1]], -fn
                uv_f = uv_f[:, [0, 2, 1]] if uv_f is not None else None
        vi = ti = None  # per drawn vertex: index into vertices / uvs (None: identity)
        draw_faces = f
        if normals == "flat":
            vi = f.reshape(-1)
            ti = (uv_f if uv_f is not None else f).reshape(-1)
            draw_faces = torch.arange(3 * F).reshape(F, 3)
        elif uv_f is not None:
            T = mesh.uvs.shape[0]
            uniq, inverse = torch.unique((f * T + uv_f).reshape(-1), return_inverse=True)
            vi, ti = uniq // T, uniq % T
            draw_faces = inverse.reshape(F, 3)

        def per_vertex(values: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
            return values if index is None else values[index]

        columns, names = [per_vertex(v, vi)], ["in_pos"]
        if normals == "flat":
            unit = torch.nn.functional.normalize(fn, dim=-1, eps=1e-20)
            columns.append(unit.repeat_interleave(3, dim=0))
        elif normals == "smooth":
            columns.append(per_vertex(area_weighted_normals(fn, f, v.shape[0]), vi))
        if normals:
            names.append("in_normal")
        if rgb_mode == RGB_VERTEX:
            columns.append(per_vertex(_f32(mesh.vertex_colors), vi))
            names.append("in_color")
        if has_uv:
            columns.append(per_vertex(_f32(mesh.uvs), ti))
            names.append("in_uv")
        return {
            "vertices": np.ascontiguousarray(torch.cat(columns, dim=1).numpy(), dtype="f4"),
            "format": " ".join(f"{c.shape[1]}f" for c in columns),
            "names": names,
            "faces": np.ascontiguousarray(draw_faces.numpy(), dtype="i4"),
            "texture": (np.ascontiguousarray(_texture01(mesh.texture).numpy())
                        if rgb_mode == RGB_TEXTURE else None),
        }

    def _draw(self, geom, w2c, proj, sizes, W, H, images, targets, rgb_mode, has_uv):
        import moderngl

        ctx = self.ctx
        prog = self._program(targets, rgb_mode, has_uv)
        fbos = [self._framebuffer(W, H, targets, slot) for slot in range(2)]
        dest = {name: images[name].numpy() for name in targets}
        per_call = []

        def read_back(c: int) -> None:
            for i, name in enumerate(targets):
                fbos[c % 2].read_into(dest[name][c], components=TARGETS[name][1],
                                      attachment=i, dtype="f4")

        try:
            vbo = ctx.buffer(geom["vertices"].tobytes())
            ibo = ctx.buffer(geom["faces"].tobytes())
            per_call += [vbo, ibo]
            vao = ctx.vertex_array(prog, [(vbo, geom["format"], *geom["names"])],
                                   index_buffer=ibo, index_element_size=4)
            per_call.append(vao)
            if geom["texture"] is not None:
                img = geom["texture"]
                tex = ctx.texture((img.shape[1], img.shape[0]), 3, img.tobytes(), dtype="f4")
                tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
                tex.repeat_x = tex.repeat_y = False  # clamp: atlases must not bleed across edges
                per_call.append(tex)
                tex.use(location=0)
            ctx.enable_only(moderngl.DEPTH_TEST)
            ctx.depth_func = "<"
            for c in range(w2c.shape[0]):
                prog["u_w2c"].write(_gl_mat4(w2c[c]))
                prog["u_proj"].write(_gl_mat4(proj[c]))
                # The viewport makes the canvas's top-left corner the view's own image; the
                # scissor makes the cut exact whatever the driver's clipping, and the clear
                # (which honours the scissor) names the whole canvas, so the rest is background
                # and not what this slot held for a larger view.
                own = (0, 0, int(sizes[c, 0]), int(sizes[c, 1]))
                fbos[c % 2].viewport = fbos[c % 2].scissor = own
                fbos[c % 2].use()
                fbos[c % 2].clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=(0, 0, W, H))
                vao.render(moderngl.TRIANGLES)
                if c:  # read the previous view while this one rasterises
                    read_back(c - 1)
            read_back(w2c.shape[0] - 1)
        finally:
            for obj in reversed(per_call):
                obj.release()

    def _assemble(self, images: dict, want: set, mesh: Mesh, cameras: Cameras) -> RenderOutput:
        out = RenderOutput()
        depth = images["depth"]
        if "mask" in want:
            out.mask = (depth > 0).float()
        if "depth" in want:
            out.depth = depth
        if "normal" in want:
            out.normal = images["normal"]
        if "normal_world" in want:
            # n_cam = R n_world with R orthonormal, so n_world = R^T n_cam (= n_cam @ R as rows).
            R = cameras.world_to_cam[:, :3, :3].detach().float().cpu()
            out.normal_world = torch.einsum("chwi,cij->chwj", images["normal"], R)
        if "rgb" in want:
            out.rgb = images["rgb"]
        if "face" in images:
            face_id = images["face"].round().long() - 1
            if "face_id" in want:
                out.face_id = face_id
            if "labels" in want:
                labels = mesh.face_labels.detach().to("cpu", torch.int64)
                out.labels = torch.where(face_id >= 0, labels[face_id.clamp_min(0)],
                                         torch.full_like(face_id, -1))
        if "uv" in want:
            out.uv = images["uv"]
        if self.device.type != "cpu":
            for name in OUTPUT_NAMES:
                value = getattr(out, name)
                if value is not None:
                    setattr(out, name, value.to(self.device))
        return out


def render_normal_maps(mesh: Mesh, cameras: Cameras, renderer: Renderer,
                       background: float = 0.5) -> torch.Tensor:
    """Camera-space normal maps as images, the pipeline's conditioning format.

    Returns:
        (C, 3, H, W) float32 in [0, 1]: (n + 1) / 2 of the camera-space (OpenCV) normal, so a
        surface facing the camera is bluish-dark in z (n_z < 0 -> < 0.5). Background pixels
        hold `background` in every channel (0.5 = the encoding of the zero vector).
    """
    out = renderer.render(mesh, cameras, outputs=("mask", "normal"))
    img = (out.normal.permute(0, 3, 1, 2) + 1) / 2
    mask = out.mask[:, None].bool()
    return torch.where(mask, img, torch.full_like(img, background))
