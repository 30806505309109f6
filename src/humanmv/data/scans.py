"""Textured human scans (THuman2.1, 2K2K, CustomHumans, any GLB) -> multi-view subjects.

    mesh = load_scan("THuman2.1/0000/0000.obj")          # OBJ+MTL+texture, GLB/GLTF, coloured PLY
    mesh, info = normalise_scan(mesh, up="+z", front="-y")  # metres, Y up, facing +Z, centred
    report = import_scans("THuman2.1", "subjects", views=24, size=512)

`import_scans` renders every scan it finds into the subject format of `humanmv.data.format`
(rgb/mask/normal/depth of a body orbit at elevation 0, `cameras.json`, `meta.json` with
kind "scan", the source and the units found), laid out as a `humanmv synth` dataset:
`OUT/subjects/NAME/`, `OUT/manifest.json` (preset "scans", splits by a hash of the name; no
"input" view: readers use the front view) and `OUT/import_report.json`. The output folder appears only when the import
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
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.data.format import write_subject
from humanmv.data.scan_files import SCAN_SUFFIXES, load_scan
from humanmv.data.scan_normalise import (ScanNormalisation, axis_name, normalise_scan, parse_axis,
                                          scan_rotation)
from humanmv.errors import ConfigError, HumanMVError, InputImageError, OutputError
from humanmv.io.atomic import atomic_write_text, commit_output_dir, refuse_existing_output
from humanmv.render.mesh import Mesh
from humanmv.views import Views

LOG = logging.getLogger("humanmv")

__all__ = ["ImportReport", "ScanNormalisation", "find_scans", "import_scans", "load_scan",
           "normalise_scan", "parse_axis", "render_scan", "scan_cameras", "scan_rotation"]

BODY_FOV_DEG = 30.0
"""Vertical field of view of the scan orbit (the body view set of the prior pipeline)."""
RENDER_OUTPUTS = ("rgb", "mask", "normal", "depth")
PARTIAL_SUFFIX = ".partial"
REPORT_FILE = "import_report.json"


# ---- rendering ----------------------------------------------------------------------------
def scan_cameras(vertices: torch.Tensor, views: int = 24, size: int = 512) -> Cameras:
    """The scan orbit: `views` cameras at elevation 0, az = 360 * i / views from the front,
    aimed at the centre of `vertices` (V, 3) and framing their bounding sphere (fov 30 deg)."""
    return orbit_cameras_around(vertices, ring_azimuths(views), 0.0, fov_deg=BODY_FOV_DEG, width=size, height=size)


def render_scan(mesh: Mesh, cameras: Cameras, renderer=None, meta: dict | None = None) -> Views:
    """rgb (background 0), mask, camera-space normal and depth of `mesh` in `cameras`."""
    if renderer is None:
        from humanmv.render import Renderer

        renderer = Renderer()
    out = renderer.render(mesh, cameras, outputs=RENDER_OUTPUTS)
    return Views.from_render(cameras, out, RENDER_OUTPUTS, meta)


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

    (partial / "subjects").mkdir(exist_ok=True)
    for index, (name, path) in enumerate(scans):
        expected = {"source": _fingerprint(path), **settings}
        dest, status = partial / "subjects" / name, "imported"
        tmp = partial / "subjects" / f".tmp-{name}"
        _remove_dir(tmp)
        if _finished(dest, expected):
            status = "skipped"
        elif previous is not None and _finished(previous / "subjects" / name, expected):
            shutil.copytree(previous / "subjects" / name, tmp, copy_function=_link_or_copy)
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
    stale = [e for e in partial.iterdir() if e.name != "subjects"]  # of an earlier, different run
    for entry in stale + [e for e in (partial / "subjects").iterdir() if e.name not in done]:
        _remove_dir(entry) if entry.is_dir() else entry.unlink()
    report.seconds = round(time.perf_counter() - start, 3)
    atomic_write_text(partial / REPORT_FILE, json.dumps(report.to_json(), indent=1), fsync=False)
    atomic_write_text(partial / "manifest.json", json.dumps(scans_manifest(sorted(done), views, size), indent=1),
                      fsync=False)
    refuse_existing_output(out, overwrite)  # someone may have written there meanwhile
    commit_output_dir(partial, out)
    return report


def scans_manifest(names: list[str], views: int, size: int) -> dict:
    """The dataset manifest of imported scans, with the keys `humanmv synth` writes."""
    from humanmv.data.synth import split_of

    return {"preset": "scans", "seed": None, "rig": "body", "size": size, "views_per_subject": views,
            "input_view": None, "subjects": [{"name": n, "split": split_of("scan", n), "seed": None} for n in names]}


def _render_one(path: Path, name: str, src: Path, up: str, front: str, height: float | None,
                views: int, size: int, allow_untextured: bool, renderer) -> Views:
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
