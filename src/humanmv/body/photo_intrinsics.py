"""The photo's camera intrinsics when they are known: a user's K, a user's focal length, EXIF.

`resolve_intrinsics` picks, in this order, the first source that gives a usable K:

1. an explicit K (`--intrinsics`, a calibrated rig): source "K";
2. a 35-mm-equivalent focal length the user gave (`--focal-mm`): source "focal-mm";
3. EXIF FocalLengthIn35mmFilm: source "exif:FocalLengthIn35mmFilm";
4. EXIF FocalLength with the sensor's pixel density (FocalPlaneX/YResolution and its unit):
   source "exif:FocalLength+FocalPlaneResolution";

and returns None when none does (the fit then assumes `FitConfig.fov_deg`). What the user
gave and makes no sense is a one-line `ConfigError`; what EXIF says and makes no sense is
ignored with a warning on the "humanmv" logger, since a photo's metadata is a hint the user did
not choose.

K follows docs/architecture.md: (3, 3) float32 in pixels of the UPRIGHT photo (as
`io.images.load_image` returns it), OpenCV axes, measured from the image's top-left corner with
pixel centres at integer + 0.5, so the principal point of every source but "K" is the image
centre (W / 2, H / 2).

35-mm-equivalent focal lengths convert to pixels by the DIAGONAL, as camera makers and exiftool
do (FocalLength35efl = FocalLength * 43.27 mm / sensor diagonal): the equivalent lens gives the
same field of view across the image diagonal as it would across the 36 x 24 mm frame's, so

    f_px = f_35mm * sqrt(W^2 + H^2) / 43.2666.

The diagonal is the one choice that neither the photo's aspect ratio (4:3 phones against 3:2
film) nor its orientation (portrait or landscape) changes.

This module imports torch only where it builds a tensor, so the CLI can check its options
before torch is imported.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from humanmv.errors import ConfigError
from humanmv.io.exif import RESOLUTION_UNIT_MM, ExifFocal

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger("humanmv")

FULL_FRAME_DIAGONAL_MM = 43.2666
"""The diagonal of the 36 x 24 mm frame, sqrt(36^2 + 24^2)."""
MAX_FOCAL_35MM = 2000.0
"""A 35-mm-equivalent focal length above this (a 1.2-degree diagonal field of view) is refused:
no photo of a whole person or a head is taken that way, so it is a typo or a broken tag."""
MAX_ANISOTROPY = 1.5
"""EXIF focal-plane resolutions whose fx / fy differ by more than this are not believed."""

INTRINSICS_HELP = ('give "fx,fy,cx,cy" (pixels of the upright photo) or a JSON file holding '
                   '{"K": [[fx,0,cx],[0,fy,cy],[0,0,1]]}, {"fx":..,"fy":..,"cx":..,"cy":..} '
                   'or a cameras.json list whose first camera has "K"')


@dataclass
class PhotoIntrinsics:
    """The photo's intrinsics and where they came from.

    K: (3, 3) float32, pixels of the upright photo (see the module docstring).
    source: "K", "focal-mm", "exif:FocalLengthIn35mmFilm" or
        "exif:FocalLength+FocalPlaneResolution", as fit.json reports it.
    """

    K: torch.Tensor
    source: str


# -- conversions ------------------------------------------------------------------------------
def focal_35mm_to_pixels(focal_35mm: float, width: int, height: int) -> float:
    """A 35-mm-equivalent focal length (mm) -> pixels of a width x height photo (diagonal)."""
    return float(focal_35mm) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM


def focal_pixels_to_35mm(focal_px: float, width: int, height: int) -> float:
    """A focal length in pixels of a width x height photo -> its 35-mm equivalent (mm)."""
    return float(focal_px) * FULL_FRAME_DIAGONAL_MM / math.hypot(width, height)


def focal_35mm_equivalent(K: Any, width: int, height: int) -> float:
    """The 35-mm equivalent (mm, diagonal) of intrinsics K (3, 3): of (fx + fy) / 2."""
    rows = _rows(K)
    return focal_pixels_to_35mm(0.5 * (rows[0][0] + rows[1][1]), width, height)


def _centred_K(fx: float, fy: float, width: int, height: int) -> torch.Tensor:
    import torch

    return torch.tensor([[fx, 0.0, width / 2], [0.0, fy, height / 2], [0.0, 0.0, 1.0]],
                        dtype=torch.float32)


# -- what the user gives ------------------------------------------------------------------------
def check_focal_mm(value: float | None, what: str = "--focal-mm") -> float | None:
    """A user's 35-mm-equivalent focal length, checked: (0, MAX_FOCAL_35MM] mm, else ConfigError."""
    if value is None:
        return None
    try:
        focal = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number (the 35-mm-equivalent focal length in mm), "
                          f"got {value!r}") from None
    if not math.isfinite(focal) or not 0 < focal <= MAX_FOCAL_35MM:
        raise ConfigError(f"{what} must be the 35-mm-equivalent focal length in mm, within "
                          f"(0, {MAX_FOCAL_35MM:g}], got {value!r} (a phone's main camera is ~26 mm)")
    return focal


def check_K(K: Any, what: str = "--intrinsics") -> list[list[float]]:
    """A user's K as 3 rows of 3 finite floats: [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with
    fx, fy > 0; anything else is a one-line ConfigError naming the problem."""
    try:
        rows = _rows(K)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: K must be a 3x3 matrix of numbers; {INTRINSICS_HELP}") from None
    flat = [v for row in rows for v in row]
    if not all(math.isfinite(v) for v in flat):
        raise ConfigError(f"{what}: K holds a non-finite number ({_show(rows)}); {INTRINSICS_HELP}")
    if not (rows[0][0] > 0 and rows[1][1] > 0):
        raise ConfigError(f"{what}: fx and fy must be positive pixels, got fx={rows[0][0]:g}, "
                          f"fy={rows[1][1]:g}; {INTRINSICS_HELP}")
    if rows[1][0] != 0 or rows[2] != [0.0, 0.0, 1.0]:
        raise ConfigError(f"{what}: K must be [[fx,s,cx],[0,fy,cy],[0,0,1]] (OpenCV), got "
                          f"{_show(rows)}")
    return rows


def check_K_for_photo(K: Any, width: int, height: int, what: str = "--intrinsics") -> list[list[float]]:
    """`check_K`, and the principal point inside the upright width x height photo (a K for
    another resolution or orientation is the likely mistake otherwise)."""
    rows = check_K(K, what)
    cx, cy = rows[0][2], rows[1][2]
    if not (0 <= cx <= width and 0 <= cy <= height):
        raise ConfigError(f"{what}: the principal point ({cx:g}, {cy:g}) lies outside the "
                          f"{width}x{height} photo; give K in pixels of this photo, upright "
                          "(a K calibrated at another resolution must be scaled)")
    return rows


def parse_intrinsics_values(text: str) -> list[list[float]]:
    """`--intrinsics TEXT` -> K as 3 rows of 3 floats, checked (`check_K`); no torch.

    TEXT is "fx,fy,cx,cy" (pixels), or the path of a JSON file holding {"K": 3x3},
    {"fx", "fy", "cx", "cy"} or a cameras.json-style list whose first entry has "K".
    """
    what = f"--intrinsics {text!r}"
    stripped = text.strip()
    path = Path(stripped)
    if stripped.lower().endswith(".json") or path.is_file():
        return check_K(_K_from_json(path, what), what)
    parts = [p.strip() for p in stripped.split(",")]
    if len(parts) != 4:
        raise ConfigError(f"{what}: neither 4 comma-separated numbers nor a JSON file; {INTRINSICS_HELP}")
    try:
        fx, fy, cx, cy = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{what}: fx,fy,cx,cy must be numbers; {INTRINSICS_HELP}") from None
    return check_K([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], what)


def parse_intrinsics_option(text: str) -> torch.Tensor:
    """`--intrinsics TEXT` -> K (3, 3) float32 (see `parse_intrinsics_values`)."""
    import torch

    return torch.tensor(parse_intrinsics_values(text), dtype=torch.float32)


def _K_from_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"{what}: no such file; {INTRINSICS_HELP}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(f"{what}: not a readable JSON file ({reason}); {INTRINSICS_HELP}") from None
    if isinstance(data, list) and data and isinstance(data[0], dict) and "K" in data[0]:
        return data[0]["K"]
    if isinstance(data, dict) and "K" in data:
        return data["K"]
    if isinstance(data, dict) and all(k in data for k in ("fx", "fy", "cx", "cy")):
        try:
            fx, fy, cx, cy = (float(data[k]) for k in ("fx", "fy", "cx", "cy"))
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: fx, fy, cx, cy must be numbers; {INTRINSICS_HELP}") from None
        return [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
    raise ConfigError(f"{what}: the JSON holds no camera matrix; {INTRINSICS_HELP}")


def _rows(K: Any) -> list[list[float]]:
    """Anything 3x3 (list, numpy, torch) -> 3 lists of 3 floats; ValueError/TypeError else."""
    if hasattr(K, "tolist"):
        K = K.tolist()
    if isinstance(K, (str, bytes)) or len(K) != 3:
        raise ValueError("not 3 rows")
    rows = []
    for row in K:
        if isinstance(row, (str, bytes)) or len(row) != 3:
            raise ValueError("not 3 columns")
        rows.append([float(v) for v in row])
    return rows


def _show(rows: list[list[float]]) -> str:
    return "[" + ",".join("[" + ",".join(f"{v:g}" for v in row) + "]" for row in rows) + "]"


# -- the priority -------------------------------------------------------------------------------
def resolve_intrinsics(width: int, height: int, *, focal_mm: float | None = None, K: Any = None,
                       exif: ExifFocal | None = None, name: str = "photo") -> PhotoIntrinsics | None:
    """The intrinsics of an upright width x height photo, from the first source that has them.

    focal_mm: the user's 35-mm-equivalent focal length. K: the user's (3, 3) matrix (tensor,
    array or nested lists) in pixels of the upright photo. exif: `LoadedImage.exif_focal`.
    name: the photo, for the warnings. Bad user values raise ConfigError (both are checked,
    even when K makes focal_mm unused); bad EXIF is ignored.
    """
    focal_mm = check_focal_mm(focal_mm)
    if K is not None:
        rows = check_K_for_photo(K, width, height)
        import torch

        return PhotoIntrinsics(torch.tensor(rows, dtype=torch.float32), "K")
    if focal_mm is not None:
        f = focal_35mm_to_pixels(focal_mm, width, height)
        return PhotoIntrinsics(_centred_K(f, f, width, height), "focal-mm")
    if exif is not None:
        return _from_exif(exif, width, height, name)
    return None


def _from_exif(exif: ExifFocal, width: int, height: int, name: str) -> PhotoIntrinsics | None:
    f35 = exif.focal_length_35mm
    if f35 is not None and f35 != 0:  # EXIF's 0 means "unknown"
        if math.isfinite(f35) and 0 < f35 <= MAX_FOCAL_35MM:
            f = focal_35mm_to_pixels(f35, width, height)
            return PhotoIntrinsics(_centred_K(f, f, width, height), "exif:FocalLengthIn35mmFilm")
        LOG.warning("%s: EXIF FocalLengthIn35mmFilm = %g mm makes no sense; ignored", name, f35)
    focal = _focal_plane_pixels(exif, width, height, name)
    if focal is None:
        return None
    return PhotoIntrinsics(_centred_K(*focal, width, height), "exif:FocalLength+FocalPlaneResolution")


def _focal_plane_pixels(exif: ExifFocal, width: int, height: int, name: str) -> tuple[float, float] | None:
    """(fx, fy) in pixels of the upright photo from FocalLength and the focal-plane resolution.

    The resolutions count sensor pixels per unit along the STORED image's axes at
    ExifImageWidth x ExifImageHeight; a photo stored smaller (resized after capture) scales
    them by stored / ExifImage size, a 90-degree Orientation swaps x and y, and an upright
    photo of another size than the stored one (resized after loading) scales them again.
    """
    mm = exif.focal_length_mm
    if mm is None:
        return None
    if not (math.isfinite(mm) and mm > 0):
        LOG.warning("%s: EXIF FocalLength = %g mm makes no sense; ignored", name, mm)
        return None
    xres = exif.focal_plane_x_resolution
    if xres is None:
        LOG.info("%s: EXIF gives FocalLength %g mm but not the sensor's size (FocalLengthIn35mmFilm "
                 "or FocalPlaneXResolution); the fit assumes its default field of view", name, mm)
        return None
    yres = exif.focal_plane_y_resolution if exif.focal_plane_y_resolution is not None else xres
    unit = 2 if exif.focal_plane_resolution_unit is None else exif.focal_plane_resolution_unit  # EXIF's default: inch
    if unit not in RESOLUTION_UNIT_MM:
        LOG.warning("%s: EXIF FocalPlaneResolutionUnit = %s is not 2..5 (inch, cm, mm, um); "
                    "FocalLength ignored", name, unit)
        return None
    if not all(math.isfinite(r) and r > 0 for r in (xres, yres)):
        LOG.warning("%s: EXIF FocalPlaneX/YResolution = %g / %g makes no sense; FocalLength ignored",
                    name, xres, yres)
        return None
    fx = mm * xres / RESOLUTION_UNIT_MM[unit]  # pixels at ExifImageWidth x ExifImageHeight, stored axes
    fy = mm * yres / RESOLUTION_UNIT_MM[unit]
    stored_w, stored_h = exif.stored_width, exif.stored_height
    if stored_w is None or stored_h is None:  # an ExifFocal made by hand: the photo as given
        stored_w, stored_h = (height, width) if exif.rotated else (width, height)
    ref_w, ref_h = exif.exif_image_width, exif.exif_image_height
    sx = stored_w / ref_w if ref_w else 1.0
    sy = stored_h / ref_h if ref_h else sx
    fx, fy = fx * sx, fy * sy
    upright_w, upright_h = stored_w, stored_h
    if exif.rotated:
        fx, fy = fy, fx
        upright_w, upright_h = stored_h, stored_w
    fx, fy = fx * width / upright_w, fy * height / upright_h
    f35 = focal_pixels_to_35mm(0.5 * (fx + fy), width, height)
    if not (math.isfinite(f35) and 0 < f35 <= MAX_FOCAL_35MM) or not (
            1 / MAX_ANISOTROPY <= fx / fy <= MAX_ANISOTROPY):
        LOG.warning("%s: EXIF FocalLength %g mm with FocalPlaneX/YResolution %g / %g per %s gives "
                    "fx=%.1f, fy=%.1f px (%.1f mm 35-mm equivalent), which makes no sense; ignored",
                    name, mm, xres, yres, {2: "inch", 3: "cm", 4: "mm", 5: "um"}[unit], fx, fy, f35)
        return None
    return fx, fy
