"""Put a scan in humanmv's world frame: its up axis to +Y, its front to +Z, centred, in metres
(units detected from the height, or a height given)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from humanmv.errors import ConfigError
from humanmv.render.mesh import Mesh

AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0),
        "+z": (0, 0, 1), "-z": (0, 0, -1)}
# Heights (along `up`, source units) read as a person: unit -> (low, high, metres per unit).
# The typical person is 1-2.5 m; the ranges are wider so children and crouching scans work
# too, without overlapping.
UNIT_RANGES = {"m": (0.3, 3.0, 1.0), "cm": (30.0, 300.0, 0.01), "mm": (300.0, 3000.0, 0.001)}
TYPICAL_HEIGHT_M = (1.0, 2.5)


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


