"""GLSL for the renderer: one program, specialised per request with #defines.

Camera space is OpenCV (x right, y down, z forward). One pass writes up to five float32 render
targets, each cleared to 0 (= background):
  depth  (R32F):    camera-space z (> 0 on the mesh, so it is also the mask)
  normal (RGBA32F): camera-space unit normal xyz (read back as 3 channels)
  rgb    (RGBA32F): colour (read back as 3 channels)
  face   (R32F):    face index + 1 (exact below 2**24 faces)
  uv     (RG32F):   interpolated texture coordinates (u, v), v up
One target per output lets GL read each straight into its output tensor (no interleaved copy),
and only the targets a request needs are attached and written (less fill and read-back).

Defines: WRITE_<TARGET> (0/1) and LOC_<TARGET> (its attachment index); NEED_NORMAL (normals
are computed: normal output or grey shading); RGB_MODE (0 none, 1 vertex colours, 2 texture,
3 grey Lambert); HAS_UV (the uv attribute is present).
"""

from __future__ import annotations

VERTEX = """
in vec3 in_pos;             // world space
#if NEED_NORMAL
in vec3 in_normal;          // world space, oriented by the winding
out vec3 v_normal;
#endif
#if RGB_MODE == 1
in vec3 in_color;
out vec3 v_color;
#endif
#if HAS_UV
in vec2 in_uv;
out vec2 v_uv;
#endif
uniform mat4 u_w2c;         // world -> OpenCV camera
uniform mat4 u_proj;        // OpenCV camera -> clip, built from K (see renderer.projection_from_K)
out vec3 v_pos;             // camera space

void main() {
    vec4 p = u_w2c * vec4(in_pos, 1.0);
    v_pos = p.xyz;
#if NEED_NORMAL
    v_normal = mat3(u_w2c) * in_normal;
#endif
#if RGB_MODE == 1
    v_color = in_color;
#endif
#if HAS_UV
    v_uv = in_uv;
#endif
    gl_Position = u_proj * p;
}
"""

FRAGMENT = """
in vec3 v_pos;
#if NEED_NORMAL
in vec3 v_normal;
#endif
#if RGB_MODE == 1
in vec3 v_color;
#endif
#if HAS_UV
in vec2 v_uv;
#endif
#if RGB_MODE == 2
uniform sampler2D u_texture;   // uploaded with image row 0 (top) first, i.e. at t = 0
#endif

layout(location = 0) out float out_depth;
#if WRITE_NORMAL
layout(location = LOC_NORMAL) out vec4 out_normal;
#endif
#if WRITE_RGB
layout(location = LOC_RGB) out vec4 out_rgb;
#endif
#if WRITE_FACE
layout(location = LOC_FACE) out float out_face;
#endif
#if WRITE_UV
layout(location = LOC_UV) out vec2 out_uv;
#endif

vec3 safe_normalize(vec3 v) {
    float len = length(v);
    return len > 0.0 ? v / len : vec3(0.0);
}

void main() {
    out_depth = v_pos.z;
#if NEED_NORMAL
    // The renderer orients the winding outwards (positive signed volume) before computing
    // normals (smooth: area-weighted per vertex; flat: the face normal on all three corners).
    // A back face is then seen only through a hole or from inside: flip its normal to face the
    // camera. projection_from_K maps image y down to window y up, a mirror, so a triangle whose
    // winding normal faces the camera is clockwise on screen: back faces are gl_FrontFacing.
    // Grazing back faces are left alone: they show up along silhouettes only because the
    // rasteriser snaps vertices to 1/256 pixel, and flipping their almost-perpendicular
    // normals would reverse them.
    vec3 n = safe_normalize(v_normal);
    n = (gl_FrontFacing && dot(n, normalize(v_pos)) > 0.1) ? -n : n;
#endif
#if WRITE_NORMAL
    out_normal = vec4(n, 0.0);
#endif
#if WRITE_RGB
    vec3 rgb = vec3(0.0);
  #if RGB_MODE == 1
    rgb = v_color;
  #elif RGB_MODE == 2
    rgb = texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y)).rgb;   // v up -> image row (1 - v) H
  #elif RGB_MODE == 3
    // Grey albedo lit by a headlight at the camera, plus ambient: shape is readable from any view.
    float lambert = max(dot(n, -safe_normalize(v_pos)), 0.0);
    rgb = vec3(0.8) * (0.25 + 0.75 * lambert);
  #endif
    out_rgb = vec4(rgb, 1.0);
#endif
#if WRITE_FACE
    out_face = float(gl_PrimitiveID + 1);   // 0 stays the background
#endif
#if WRITE_UV
    out_uv = v_uv;
#endif
}
"""


def specialise(source: str, defines: dict[str, int]) -> str:
    """`source` with `#version 330` and one `#define NAME VALUE` per entry prepended."""
    lines = ["#version 330"] + [f"#define {k} {int(v)}" for k, v in defines.items()]
    return "\n".join(lines) + "\n" + source
