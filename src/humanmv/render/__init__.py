"""The one offscreen renderer of humanmv (moderngl on Mesa's EGL): masks, linear depth,
camera/world normals, colours (UV texture, vertex colours or grey shading), part labels, face
ids and UVs, for batches of OpenCV cameras.

See `renderer.py` for the conventions (OpenCV pinholes with pixel centres at integer + 0.5,
row 0 at the top, v-up texture coordinates).
"""

from humanmv.render.context import context_info, get_context
from humanmv.render.mesh import Mesh, RenderOutput, face_normals, vertex_normals
from humanmv.render.renderer import (
    DEFAULT_OUTPUTS,
    OUTPUT_NAMES,
    Renderer,
    projection_from_K,
    render_normal_maps,
)

__all__ = [
    "DEFAULT_OUTPUTS",
    "OUTPUT_NAMES",
    "Mesh",
    "Renderer",
    "RenderOutput",
    "context_info",
    "face_normals",
    "get_context",
    "projection_from_K",
    "render_normal_maps",
    "vertex_normals",
]

from humanmv.render.uv_space import UVRaster, rasterize_uv  # noqa: E402

__all__ += ["UVRaster", "rasterize_uv"]
