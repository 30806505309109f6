"""Textured human scans (THuman2.1, 2K2K, CustomHumans, any GLB) -> multi-view subjects.

    mesh = load_scan("THuman2.1/0000/0000.obj")          # OBJ+MTL+texture, GLB/GLTF, coloured PLY
    mesh, info = normalise_scan(mesh, up="+z", front="-y")  # metres, Y up, facing +Z, centred
    report = import_scans("THuman2.1", "subjects", views=24, size=512)

`import_scans` renders every scan it finds into the subject format of `humanmv.data.format`
(rgb/mask/normal/depth of a body orbit at elevation 0, `cameras.json`, `meta.json` with
kind "scan", the source and the units found). The output folder appears only when the import
is complete; until then the work lives in a hidden sibling `.OUT.partial/`, one finished
subject folder at a time, so an interrupted import resumes where it stopped when the same
command is run again. With `overwrite`, subjects of the existing output that were rendered
from the same file with the same settings are reused (hard links) instead of rendered again.

Scan files found under the source folder (hidden folders and `_pruned/` are skipped):
`.obj`, `.ply`, `.glb`, `.gltf`. A folder holding one scan (THuman2.1's `0000/0000.obj`,
CustomHumans' `<id>/mesh-fNNNNN.obj`, 2K2K's `<id>/<id>.ply`) names the subject after the
folder; a folder holding several names each after the folder and the file. The same scan
saved in several formats (same folder and stem) is read once, preferring GLB, then GLTF,
OBJ, PLY.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from humanmv.cameras import Cameras, orbit_cameras_around
from humanmv.data.format import SubjectViews, write_subject
from humanmv.errors import ConfigError, HumanMVError, InputImageError, OutputError
from humanmv.io.atomic import _commit, atomic_write_text, refuse_existing_output
from humanmv.render.mesh import Mesh

LOG = logging.getLogger("humanmv")

SCAN_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")  # also the preference order for one stem
MAX_TEXTURE = 4096
"""Textures larger than this (pixels, long side) are downscaled when loaded."""
BODY_FOV_DEG = 30.0
"""Vertical field of view of the scan orbit (the body view set of the prior pipeline)."""
RENDER_OUTPUTS = ("rgb", "mask", "normal", "depth")
AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0),
        "+z": (0, 0, 1), "-z": (0, 0, -1)}
# Heights (along `up`, source units) read as a person: unit -> (low, high, metres per unit).
# The typical person is 1-2.5 m; the ranges are wider so children and crouching scans work
# too, without overlapping.
UNIT_RANGES = {"m": (0.3, 3.0, 1.0), "cm": (30.0, 300.0, 0.01), "mm": (300.0, 3000.0, 0.001)}
TYPICAL_HEIGHT_M = (1.0, 2.5)
PARTIAL_SUFFIX = ".partial"
REPORT_FILE = "import_report.json"
GREY = 0.5


# ---- loading ------------------------------------------------------------------------------
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


# ---- normalisation ------------------------------------------------------------------------
@dataclass
class ScanNormalisation:
    """How `normalise_scan` moved a scan: world = scale * (rotation @ source) + translation.

    rotation: 3x3 (rows: the source directions that become world +X, +Y, +Z).
    units: "m", "cm" or "mm" when detected from the height; "given" when `height` was passed.
    units_from: "detected" or "height".
    source_height: the scan's extent along `up`, in its own units; height_m: the same in metres.
    note: a warning about the scan (unusual height, suspicious up axis), or None.
    """

    rotation: list[list[float]]
    scale: float
    translation: list[float]
    units: str
    units_from: str
    source_height: float
    height_m: float
    up: str
    front: str
    note: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def parse_axis(value: str, what: str) -> np.ndarray:
    """A signed axis name ("+x", "-y", ...; "x" means "+x") as a unit vector; ConfigError else."""
    key = str(value).strip().lower()
    key = key if key[:1] in "+-" else "+" + key
    if key not in AXES:
        raise ConfigError(f"{what} axis must be one of {', '.join(AXES)}, got {value!r}")
    return np.array(AXES[key], dtype=np.float64)


def axis_name(value: str) -> str:
    key = str(value).strip().lower()
    return key if key[:1] in "+-" else "+" + key


def scan_rotation(up: str = "+y", front: str = "+z") -> np.ndarray:
    """(3, 3) rotation taking the scan's `up` to +Y and its `front` to +Z (det +1)."""
    u, f = parse_axis(up, "up"), parse_axis(front, "front")
    if abs(float(u @ f)) > 0.5:
        raise ConfigError(f"up {axis_name(up)} and front {axis_name(front)} are parallel; the front "
                          "must be perpendicular to up (e.g. --up +z --front -y)")
    return np.stack([np.cross(u, f), u, f])


def detect_units(height: float) -> tuple[str, float]:
    """(unit, metres per unit) for a person `height` units tall; ConfigError if no unit fits."""
    for unit, (low, high, scale) in UNIT_RANGES.items():
        if low <= height <= high:
            return unit, scale
    raise ConfigError(f"cannot tell the units of a scan {height:.4g} units tall (a person is "
                      "1-2.5 m, 100-250 cm or 1000-2500 mm); give its height in metres (--height)")


def normalise_scan(mesh: Mesh, up: str = "+y", front: str = "+z", height: float | None = None
                   ) -> tuple[Mesh, ScanNormalisation]:
    """Put a scan into the world frame: metres, Y up, facing +Z, bounding box centred at 0.

    Args:
        mesh: the scan in its own axes and units (e.g. from `load_scan`).
        up, front: the scan's up and front directions, each one of +x -x +y -y +z -z.
        height: the person's height in metres (the mesh's extent along `up` is scaled to it);
            None detects the units from the extent: 1-2.5 is metres, 100-250 centimetres,
            1000-2500 millimetres (wider ranges are accepted, with a note in the info).
    Returns:
        (the moved mesh, its `ScanNormalisation`). Colours, UVs and texture are unchanged.
    Raises:
        ConfigError: bad or parallel axes, a non-positive height, units that cannot be told.
    """
    R = scan_rotation(up, front)
    vertices = mesh.vertices.detach().cpu().double().numpy() @ R.T
    if not len(vertices):
        raise ConfigError("the scan has no vertices")
    lo, hi = vertices.min(0), vertices.max(0)
    centre, extent = (lo + hi) / 2, hi - lo
    source_height = float(extent[1])
    if not source_height > 0:
        raise ConfigError(f"the scan is flat along up={axis_name(up)}; is the up axis right?")
    note = None
    if height is not None:
        if not (isinstance(height, (int, float)) and math.isfinite(height) and 0.05 <= height <= 5.0):
            raise ConfigError(f"height must be a person's height in metres (0.05-5), got {height!r}")
        units, units_from, scale = "given", "height", float(height) / source_height
    else:
        units, scale = detect_units(source_height)
        units_from = "detected"
        height_m = source_height * scale
        if not TYPICAL_HEIGHT_M[0] <= height_m <= TYPICAL_HEIGHT_M[1]:
            note = (f"{source_height:.4g} units tall read as {height_m:.2f} m ({units}), unusual for a "
                    "standing person; pass the height in metres if that is wrong")
    if source_height < 0.75 * max(extent[0], extent[2]):
        suspicious = (f"the scan is wider than tall along up={axis_name(up)}; check the up axis")
        note = suspicious if note is None else f"{note}; {suspicious}"
    moved = (vertices - centre) * scale
    info = ScanNormalisation(
        rotation=R.tolist(), scale=float(scale), translation=(-centre * scale).tolist(),
        units=units, units_from=units_from, source_height=source_height,
        height_m=float(source_height * scale), up=axis_name(up), front=axis_name(front), note=note)
    out = Mesh(vertices=torch.from_numpy(moved.astype(np.float32)), faces=mesh.faces,
               vertex_colors=mesh.vertex_colors, uvs=mesh.uvs, uv_faces=mesh.uv_faces,
               texture=mesh.texture, face_labels=mesh.face_labels)
    return out, info


# ---- rendering ----------------------------------------------------------------------------
def scan_cameras(vertices: torch.Tensor, views: int = 24, size: int = 512) -> Cameras:
    """The scan orbit: `views` cameras at elevation 0, az = 360 * i / views from the front,
    aimed at the centre of `vertices` (V, 3) and framing their bounding sphere (fov 30 deg)."""
    az = torch.arange(views, dtype=torch.float32) * (360.0 / views)
    return orbit_cameras_around(vertices, az, 0.0, fov_deg=BODY_FOV_DEG, width=size, height=size)


def render_scan(mesh: Mesh, cameras: Cameras, renderer=None, meta: dict | None = None
                ) -> SubjectViews:
    """rgb (background 0), mask, camera-space normal and depth of `mesh` in `cameras`."""
    if renderer is None:
        from humanmv.render import Renderer

        renderer = Renderer()
    out = renderer.render(mesh, cameras, outputs=RENDER_OUTPUTS)
    return SubjectViews(cameras, rgb=out.rgb * out.mask[..., None], mask=out.mask,
                        normal=out.normal, depth=out.depth, meta=dict(meta or {}))


# ---- finding scans ------------------------------------------------------------------------
def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name or "scan"


def find_scans(src_dir: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """[(subject name, scan file)] under `src_dir`, sorted by name (see the module docstring for
    the layouts and names). Raises InputImageError when the folder is missing, unreadable or
    holds no scan."""
    src = Path(src_dir)
    if not src.exists():
        raise InputImageError(f"{src}: scans folder not found")
    if not src.is_dir():
        raise InputImageError(f"{src}: is not a folder; pass the folder that holds the scans")
    if not os.access(src, os.R_OK | os.X_OK):
        raise InputImageError(f"{src}: cannot be read (permission denied)")
    by_folder: dict[Path, dict[str, Path]] = {}
    errors: list[OSError] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(src, onerror=errors.append, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink cycle
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "_pruned")
        stems: dict[str, Path] = {}
        for name in sorted(files):
            p = Path(folder) / name
            suffix = p.suffix.lower()
            if name.startswith(".") or suffix not in SCAN_SUFFIXES:
                continue
            held = stems.get(p.stem)
            if held is None or SCAN_SUFFIXES.index(suffix) < SCAN_SUFFIXES.index(held.suffix.lower()):
                stems[p.stem] = p
        if stems:
            by_folder[Path(folder)] = stems
    if errors and not by_folder:
        raise InputImageError(f"{src}: cannot be read ({errors[0].strerror or errors[0]})")
    found: list[tuple[str, Path]] = []
    taken: set[str] = set()
    for folder, stems in sorted(by_folder.items()):
        rel = folder.relative_to(src).as_posix()
        for stem, p in sorted(stems.items()):
            if rel == ".":
                base = stem
            elif len(stems) == 1:
                base = rel
            else:
                base = f"{rel}/{stem}"
            name, k = _safe_name(base.replace("/", "_")), 2
            unique = name
            while unique in taken:
                unique, k = f"{name}-{k}", k + 1
            taken.add(unique)
            found.append((unique, p))
    if not found:
        raise InputImageError(f"{src}: no scans found (.obj, .ply, .glb, .gltf); expected e.g. "
                              "THuman2.1's NNNN/NNNN.obj with its material and texture, folders of "
                              ".obj/.ply (2K2K, CustomHumans) or .glb files")
    return sorted(found)


# ---- importing ----------------------------------------------------------------------------
@dataclass
class ImportReport:
    """What `import_scans` did. imported / skipped: subject names (skipped = already rendered
    with the same settings, reused); failed: [{"name", "source", "reason"}]; subjects: name ->
    {"source", "units", "height_m", "note"} for the imported and skipped ones."""

    out: str
    source: str
    settings: dict
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    subjects: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (f"{len(self.imported)} scans imported, {len(self.skipped)} already done, "
                f"{len(self.failed)} failed -> {self.out}")
        return text


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _finished(folder: Path, expected: dict) -> bool:
    """True when `folder` is a complete subject rendered from `expected` (source + settings)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(meta, dict) and meta.get("import") == expected
            and (folder / "cameras.json").is_file())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def import_scans(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], views: int = 24,
                 size: int = 512, up: str = "+y", front: str = "+z", height: float | None = None,
                 overwrite: bool = False, allow_untextured: bool = False, renderer=None,
                 on_scan: Callable[[int, int, str, str], None] | None = None) -> ImportReport:
    """Render every scan under `src_dir` into a subject folder under `out_dir`.

    Each subject: `views` cameras at elevation 0 (az = 360 * i / views from the front) at
    `size` x `size`, layers rgb/mask/normal/depth, `cameras.json`, and `meta.json` (kind
    "scan", source path, units and scale, up/front, the normalisation, the import settings).
    `out_dir/import_report.json` holds the returned report.

    Args:
        src_dir: folder of scans (THuman2.1, 2K2K, CustomHumans layouts, or any .glb).
        out_dir: the output folder; must not exist (or be empty) unless `overwrite`.
        views, size: cameras per subject (1-360) and image size in pixels (64-4096).
        up, front: the scans' up and front axes (+x -x +y -y +z -z).
        height: every scan's height in metres; None detects the units per scan.
        overwrite: replace an existing `out_dir` (only once the new one is complete).
        allow_untextured: render scans without texture or colours grey instead of failing them.
        renderer: a `humanmv.render.Renderer` to reuse (one is made otherwise).
        on_scan: called as on_scan(index, total, name, status) after each scan, status one of
            "imported", "skipped", "failed".
    Returns:
        ImportReport (imported, skipped, failed with reasons).
    Raises:
        InputImageError: `src_dir` is missing, unreadable or holds no scan, or no scan could be
            imported (then nothing is written).
        ConfigError: bad views, size, axes or height.
        OutputError: `out_dir` exists without `overwrite`, or cannot be written.
    Interrupted (Ctrl-C, a crash), the finished subjects stay in `.OUT.partial/` next to
    `out_dir` and the same call resumes from them.
    """
    start = time.perf_counter()
    if not isinstance(views, int) or not 1 <= views <= 360:
        raise ConfigError(f"--views must be within 1..360, got {views}")
    if not isinstance(size, int) or not 64 <= size <= 4096:
        raise ConfigError(f"--size must be within 64..4096 pixels, got {size}")
    scan_rotation(up, front)  # bad axes fail before any work
    if height is not None and not (isinstance(height, (int, float)) and 0.05 <= height <= 5.0):
        raise ConfigError(f"--height must be a person's height in metres (0.05-5), got {height!r}")
    src, out = Path(src_dir), Path(out_dir)
    scans = find_scans(src)
    refuse_existing_output(out, overwrite)
    settings = {"views": views, "size": size, "up": axis_name(up), "front": axis_name(front),
                "height": height, "allow_untextured": allow_untextured}
    report = ImportReport(out=str(out), source=str(src), settings=settings)
    partial = out.parent / f".{out.name}{PARTIAL_SUFFIX}"
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out.parent}: cannot write the output there ({exc.strerror}); "
                          "choose another --out") from exc
    previous = out if overwrite and out.is_dir() else None
    if renderer is None:
        from humanmv.render import Renderer

        renderer = Renderer()

    for index, (name, path) in enumerate(scans):
        expected = {"source": _fingerprint(path), **settings}
        dest, status = partial / name, "imported"
        tmp = partial / f".tmp-{name}"
        _remove_dir(tmp)
        if _finished(dest, expected):
            status = "skipped"
        elif previous is not None and _finished(previous / name, expected):
            shutil.copytree(previous / name, tmp, copy_function=_link_or_copy)
            _remove_dir(dest)
            os.rename(tmp, dest)
            status = "skipped"
        else:
            try:
                subject = _render_one(path, name, src, up, front, height, views, size,
                                      allow_untextured, renderer)
            except Exception as exc:  # one bad scan must not stop a long import
                reason = str(exc) if isinstance(exc, HumanMVError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, HumanMVError):
                    LOG.debug("scan %s failed", path, exc_info=True)
                LOG.warning("%s: not imported: %s", name, reason)
                report.failed.append({"name": name, "source": str(path), "reason": reason})
                if on_scan is not None:
                    on_scan(index, len(scans), name, "failed")
                continue
            subject.meta["import"] = expected
            write_subject(tmp, subject)
            _remove_dir(dest)
            os.rename(tmp, dest)
        meta = json.loads((dest / "meta.json").read_text())
        report.subjects[name] = {"source": str(path), "units": meta.get("units"),
                                 "height_m": meta.get("height_m"), "note": meta.get("note")}
        (report.skipped if status == "skipped" else report.imported).append(name)
        if on_scan is not None:
            on_scan(index, len(scans), name, status)

    done = set(report.imported) | set(report.skipped)
    if not done:
        _remove_dir(partial)
        first = report.failed[0]
        raise InputImageError(f"none of the {len(scans)} scans under {src} could be imported "
                              f"({first['name']}: {first['reason']})")
    for entry in partial.iterdir():  # stale work of an earlier, different run
        if entry.name not in done:
            _remove_dir(entry) if entry.is_dir() else entry.unlink()
    report.seconds = round(time.perf_counter() - start, 3)
    atomic_write_text(partial / REPORT_FILE, json.dumps(report.to_json(), indent=1), fsync=False)
    refuse_existing_output(out, overwrite)  # someone may have written there meanwhile
    _commit(partial, out)
    return report


def _render_one(path: Path, name: str, src: Path, up: str, front: str, height: float | None,
                views: int, size: int, allow_untextured: bool, renderer) -> SubjectViews:
    mesh = load_scan(path, allow_untextured=allow_untextured)
    try:
        mesh, info = normalise_scan(mesh, up, front, height)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if info.note:
        LOG.warning("%s: %s", path, info.note)
    colour = "texture" if mesh.texture is not None else (
        "vertex colours" if mesh.vertex_colors is not None else "none (grey)")
    meta = {
        "kind": "scan",
        "name": name,
        "source": str(path.resolve()),
        "source_relative": path.relative_to(src).as_posix(),
        "format": path.suffix.lower().lstrip("."),
        "units": info.units,
        "scale": info.scale,
        "height_m": round(info.height_m, 4),
        "up": info.up,
        "front": info.front,
        "note": info.note,
        "normalisation": info.to_json(),
        "colour": colour,
        "vertices": int(mesh.vertices.shape[0]),
        "faces": int(mesh.faces.shape[0]),
    }
    return render_scan(mesh, scan_cameras(mesh.vertices, views, size), renderer, meta)
