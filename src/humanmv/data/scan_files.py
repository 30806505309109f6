"""Load textured human scans (OBJ+MTL+texture, GLB/GLTF, PLY with vertex colours) as
`render.Mesh`es: textures packed into one image, colours kept, clear errors for broken or
untextured files. `scans.import_scans` renders them into subjects."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from humanmv.errors import HumanMVError, InputImageError
from humanmv.render.mesh import Mesh

LOG = logging.getLogger("humanmv")

SCAN_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")  # also the preference order for one stem
MAX_TEXTURE = 4096
"""Textures larger than this (pixels, long side) are downscaled when loaded."""
GREY = 0.5


def load_scan(path: str | os.PathLike[str], allow_untextured: bool = False,
              max_texture: int = MAX_TEXTURE) -> Mesh:
    """Read a scan as a `Mesh` in the file's own axes and units.

    Supported: OBJ (+ MTL + texture image), GLB / GLTF (base-colour texture or COLOR_0), PLY
    (vertex colours, or a texture). Node transforms of GLB/GLTF scenes are applied; several
    textured parts are packed into one texture atlas; parts mixing textures and colours are
    converted to vertex colours. Vertices at the same position are merged (UVs keep their own
    indices in `uv_faces`), so smooth normals have no seams at texture seams.

    Args:
        path: the scan file.
        allow_untextured: render a mesh without texture or colours grey (no colours: the
            renderer's grey shading) instead of refusing it.
        max_texture: textures whose long side exceeds this are downscaled (pixels).
    Returns:
        Mesh with vertices (V, 3) float32 in file units, faces (F, 3) int64, and either uvs (T,
        2) v up + uv_faces (F, 3) + texture (Ht, Wt, 3) float32 [0, 1] row 0 = top, or
        vertex_colors (V, 3) float32 [0, 1], or neither (only with `allow_untextured`).
    Raises:
        InputImageError naming the file: missing, unsupported suffix, unreadable or corrupt,
        no triangles, or no texture/colours (unless `allow_untextured`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputImageError(f"{path}: scan file not found" if not path.exists() else
                              f"{path}: is not a file; pass a scan file (.obj, .ply, .glb, .gltf)")
    if suffix not in SCAN_SUFFIXES:
        raise InputImageError(f"{path}: unsupported scan format {suffix or '(no suffix)'}; "
                              "use .obj (+ .mtl + texture), .glb/.gltf or a coloured .ply")
    if not os.access(path, os.R_OK):
        raise InputImageError(f"{path}: is not readable (permission denied)")
    geometries = _read_geometries(path, suffix)
    sources = [_colour_source(g) for g in geometries]
    if all(s in (None, "uniform") for s in sources) and _one_colour(geometries, sources):
        if not allow_untextured:
            raise InputImageError(f"{path}: has no texture or vertex colours{_missing_texture_hint(path)}; "
                                  "export it with its texture (or allow untextured scans to render it grey)")
        return _plain_mesh(geometries)
    if all(s in ("texture", "uniform") for s in sources):
        textured = _textured_mesh(path, geometries, max_texture)
        if textured is not None:
            return textured
    if len(set(sources)) > 1:
        LOG.info("%s: parts with different colour sources; using vertex colours", path)
    return _coloured_mesh(geometries, sources)


def _read_geometries(path: Path, suffix: str) -> list:
    """The file's triangle meshes with their scene transforms applied (trimesh objects)."""
    import trimesh

    kind = {".glb": "glb", ".gltf": "gltf", ".obj": "obj", ".ply": "ply"}[suffix]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = trimesh.load(path, file_type=kind, force="scene", process=False)
            geometries = [g for g in scene.dump(concatenate=False)
                          if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    except HumanMVError:
        raise
    except Exception as exc:  # trimesh raises anything on a damaged file
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise InputImageError(f"{path}: cannot read the scan, the file is corrupt or not a "
                              f"valid {kind.upper()} ({reason}); re-export it") from exc
    if not geometries:
        raise InputImageError(f"{path}: holds no triangle mesh (empty, or only points/lines); "
                              "export the scan as a triangle mesh")
    for g in geometries:
        if not np.isfinite(np.asarray(g.vertices)).all():
            raise InputImageError(f"{path}: has vertices that are not finite numbers; re-export it")
    return geometries


def _material_image(material):
    if material is None:
        return None
    image = getattr(material, "baseColorTexture", None)  # PBRMaterial (glTF)
    if image is None:
        image = getattr(material, "image", None)  # SimpleMaterial (OBJ/PLY)
    return image


def _is_uniform(image) -> bool:
    """One colour all over (e.g. trimesh's 2x2 stand-in for a material without a texture)."""
    return all(low == high for low, high in image.convert("RGB").getextrema())


def _colour_source(g) -> str | None:
    """For one trimesh geometry: "texture"; "uniform" (a one-colour texture, e.g. the stand-in
    trimesh makes when the material or its image is missing); "vertex" (vertex or face
    colours); or None."""
    visual = g.visual
    if getattr(visual, "kind", None) == "texture":
        uv = getattr(visual, "uv", None)
        image = _material_image(getattr(visual, "material", None))
        if image is not None and uv is not None and len(uv) == len(g.vertices):
            return "uniform" if _is_uniform(image) else "texture"
        colours = getattr(visual, "vertex_attributes", {}).get("color")
        return "vertex" if colours is not None and len(colours) == len(g.vertices) else None
    if getattr(visual, "kind", None) in ("vertex", "face"):
        return "vertex"
    return None


def _one_colour(geometries: list, sources: list) -> bool:
    """True when parts without texture or colours all share one colour (nothing to render)."""
    colours = {tuple(_material_image(g.visual.material).convert("RGB").getpixel((0, 0)))
               for g, s in zip(geometries, sources) if s == "uniform"}
    return len(colours) <= 1 and (not colours or None not in sources)


def _texture_array(image, max_texture: int) -> torch.Tensor:
    from PIL import Image

    image = image.convert("RGB")
    if max(image.size) > max_texture:
        scale = max_texture / max(image.size)
        size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        image = image.resize(size, Image.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)


def _merge_positions(vertices: np.ndarray, faces: np.ndarray, extra: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices with identical positions (and identical `extra` rows) merged: (unique vertices,
    faces into them, index of one original vertex per unique vertex)."""
    key = vertices if extra is None else np.hstack([vertices, extra])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return vertices[first], inverse.reshape(-1)[faces], first


def _textured_mesh(path: Path, geometries: list, max_texture: int) -> Mesh | None:
    import trimesh

    if len(geometries) == 1:
        g = geometries[0]
    else:
        try:  # trimesh packs the parts' textures into one atlas
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = trimesh.util.concatenate(geometries)
        except Exception as exc:
            LOG.info("%s: cannot pack %d textures into one (%s); using vertex colours",
                     path, len(geometries), exc)
            return None
        if _colour_source(g) not in ("texture", "uniform"):
            return None
    vertices = np.asarray(g.vertices, dtype=np.float64)
    faces = np.asarray(g.faces, dtype=np.int64)
    uv = np.asarray(g.visual.uv, dtype=np.float64)[:, :2]
    merged, merged_faces, _ = _merge_positions(vertices, faces)
    return Mesh(vertices=torch.from_numpy(merged.astype(np.float32)),
                faces=torch.from_numpy(merged_faces),
                uvs=torch.from_numpy(uv.astype(np.float32)),
                uv_faces=torch.from_numpy(faces.copy()),
                texture=_texture_array(_material_image(g.visual.material), max_texture))


def _geometry_colours(g, source: str | None) -> np.ndarray:
    """(V, 3) float in [0, 1] per vertex of one geometry."""
    visual = g.visual
    if source in ("texture", "uniform"):
        rgba = visual.to_color().vertex_colors
    elif source == "vertex" and getattr(visual, "kind", None) == "texture":
        rgba = np.asarray(visual.vertex_attributes["color"])
    elif source == "vertex":
        rgba = visual.vertex_colors  # face colours are averaged onto vertices by trimesh
    else:
        main = getattr(getattr(visual, "material", None), "main_color", None)
        rgba = np.tile(np.asarray(main if main is not None else [128, 128, 128, 255]),
                       (len(g.vertices), 1))
    rgba = np.asarray(rgba)
    colours = rgba[:, :3].astype(np.float64)
    return colours / 255.0 if rgba.dtype == np.uint8 or colours.max() > 1.0 else colours


def _coloured_mesh(geometries: list, sources: list) -> Mesh:
    vertices, faces, colours, offset = [], [], [], 0
    for g, source in zip(geometries, sources):
        vertices.append(np.asarray(g.vertices, dtype=np.float64))
        faces.append(np.asarray(g.faces, dtype=np.int64) + offset)
        colours.append(_geometry_colours(g, source))
        offset += len(g.vertices)
    v, f, c = np.concatenate(vertices), np.concatenate(faces), np.concatenate(colours)
    merged, merged_faces, first = _merge_positions(v, f, np.round(c * 255))
    return Mesh(vertices=torch.from_numpy(merged.astype(np.float32)),
                faces=torch.from_numpy(merged_faces),
                vertex_colors=torch.from_numpy(c[first].astype(np.float32)).clamp(0, 1))


def _plain_mesh(geometries: list) -> Mesh:
    vertices, faces, offset = [], [], 0
    for g in geometries:
        vertices.append(np.asarray(g.vertices, dtype=np.float64))
        faces.append(np.asarray(g.faces, dtype=np.int64) + offset)
        offset += len(g.vertices)
    merged, merged_faces, _ = _merge_positions(np.concatenate(vertices), np.concatenate(faces))
    return Mesh(vertices=torch.from_numpy(merged.astype(np.float32)),
                faces=torch.from_numpy(merged_faces))


def _missing_texture_hint(path: Path) -> str:
    """For an OBJ whose material names a texture that is not there: ' (its MTL names X, which
    is missing)'; else ''."""
    if path.suffix.lower() != ".obj":
        return ""
    try:
        head = path.read_text(errors="replace")[:1_000_000]
        for lib in re.findall(r"^\s*mtllib\s+(.+?)\s*$", head, flags=re.M):
            mtl = path.parent / lib
            if not mtl.is_file():
                return f" (its material file {lib} is missing)"
            for image in re.findall(r"^\s*map_Kd\s+(?:-\S+\s+\S+\s+)*(.+?)\s*$",
                                    mtl.read_text(errors="replace"), flags=re.M):
                if not (mtl.parent / image).is_file():
                    return f" ({lib} names the texture {image}, which is missing)"
    except OSError:
        pass
    return ""


