"""The focal-length information in a photo's EXIF block, read with PIL.

`read_exif_focal` returns the raw tags that tell the camera's focal length (in the 35-mm
equivalent, or in millimetres with the sensor's pixel density), the image size they refer to,
the size of the image as stored and its orientation, so `body.photo_intrinsics` can turn them
into pixels. It never raises: a photo without EXIF, or with a block PIL cannot parse, gives
None, and a single unreadable tag is left out (None) rather than spoiling the others.

Everything here describes the image AS STORED (before `Orientation` is applied): EXIF's
focal-plane resolutions, ExifImageWidth/Height and `stored_width`/`stored_height` all follow
the sensor's axes, which a 90-degree Orientation swaps in the upright photo.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image

LOG = logging.getLogger("humanmv")

EXIF_IFD = 0x8769
ORIENTATION = 0x0112
FOCAL_LENGTH_35MM = 0xA405
FOCAL_LENGTH = 0x920A
FOCAL_PLANE_X_RESOLUTION = 0xA20E
FOCAL_PLANE_Y_RESOLUTION = 0xA20F
FOCAL_PLANE_RESOLUTION_UNIT = 0xA210
EXIF_IMAGE_WIDTH = 0xA002
EXIF_IMAGE_HEIGHT = 0xA003

RESOLUTION_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
"""FocalPlaneResolutionUnit -> millimetres per unit: 2 inch, 3 cm, 4 mm, 5 micrometre."""

ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})
"""Orientation values that turn the stored image by 90 degrees (transpose, rotate 90/270,
transverse): the upright photo's x axis is the stored y axis."""


@dataclass(frozen=True)
class ExifFocal:
    """What a photo's EXIF says about its focal length; every field None when absent.

    focal_length_35mm: FocalLengthIn35mmFilm (0xA405), millimetres; EXIF's 0 ("unknown")
        is kept as given, `body.photo_intrinsics` ignores it.
    focal_length_mm: FocalLength (0x920A), the lens's real focal length in millimetres.
    focal_plane_x_resolution / _y_resolution: FocalPlaneX/YResolution (0xA20E / 0xA20F),
        sensor pixels per `focal_plane_resolution_unit` along the stored image's x / y.
    focal_plane_resolution_unit: FocalPlaneResolutionUnit (0xA210): 2 inch (EXIF's default
        when absent), 3 cm, 4 mm, 5 micrometre.
    exif_image_width / _height: ExifImageWidth/Height (0xA002 / 0xA003), the size in pixels
        the focal-plane resolutions refer to (an editor that resized the photo may have kept
        it).
    stored_width / stored_height: the image's size as stored in the file, before orientation.
    orientation: Orientation (0x0112), 1..8; 5..8 turn the image by 90 degrees.
    """

    focal_length_35mm: float | None = None
    focal_length_mm: float | None = None
    focal_plane_x_resolution: float | None = None
    focal_plane_y_resolution: float | None = None
    focal_plane_resolution_unit: int | None = None
    exif_image_width: int | None = None
    exif_image_height: int | None = None
    stored_width: int | None = None
    stored_height: int | None = None
    orientation: int | None = None

    @property
    def rotated(self) -> bool:
        """Whether the upright photo is the stored image turned by 90 degrees."""
        return self.orientation in ROTATED_ORIENTATIONS

    @property
    def has_focal(self) -> bool:
        """Whether any focal-length tag is present (the other fields only qualify them)."""
        return self.focal_length_35mm is not None or self.focal_length_mm is not None


def read_exif_focal(img_or_path: Image.Image | str | os.PathLike[str]) -> ExifFocal | None:
    """The focal information of a photo (a PIL image, or the path of one), or None.

    None when the photo has no EXIF block, the block cannot be parsed, or it holds neither a
    focal-length tag nor an orientation (nothing this module reports would be useful). Never
    raises: EXIF is a hint, and a broken block must not refuse an otherwise good photo.
    """
    try:
        with warnings.catch_warnings():
            # PIL warns "Corrupt EXIF data" for every truncated entry; None says it already.
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(img_or_path, Image.Image):
                return _read(img_or_path)
            with Image.open(img_or_path) as img:  # lazy: the header and EXIF only, no decode
                return _read(img)
    except Exception as exc:  # noqa: BLE001 - any failure of PIL's EXIF parser means "no EXIF"
        LOG.debug("EXIF unreadable (%s: %s); ignored", type(exc).__name__, exc)
        return None


def _read(img: Image.Image) -> ExifFocal | None:
    exif = img.getexif()
    if not exif:
        return None
    try:
        ifd = exif.get_ifd(EXIF_IFD)
    except Exception as exc:  # noqa: BLE001 - a broken sub-IFD: the orientation may still do
        LOG.debug("EXIF sub-IFD unreadable (%s); ignored", exc)
        ifd = {}
    width, height = img.size
    found = ExifFocal(
        focal_length_35mm=_number(ifd.get(FOCAL_LENGTH_35MM)),
        focal_length_mm=_number(ifd.get(FOCAL_LENGTH)),
        focal_plane_x_resolution=_number(ifd.get(FOCAL_PLANE_X_RESOLUTION)),
        focal_plane_y_resolution=_number(ifd.get(FOCAL_PLANE_Y_RESOLUTION)),
        focal_plane_resolution_unit=_integer(ifd.get(FOCAL_PLANE_RESOLUTION_UNIT)),
        exif_image_width=_integer(ifd.get(EXIF_IMAGE_WIDTH)),
        exif_image_height=_integer(ifd.get(EXIF_IMAGE_HEIGHT)),
        stored_width=int(width),
        stored_height=int(height),
        orientation=_integer(exif.get(ORIENTATION)),
    )
    if not found.has_focal and found.orientation is None:
        return None
    return found


def _number(value: Any) -> float | None:
    """An EXIF number (int, IFDRational, a 1-tuple of either) as float; None if unusable.

    Non-finite values (PIL reads a rational 0/0 as NaN) are kept, as stored: judging them is
    `body.photo_intrinsics`'s job, which says so in a warning.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number


def _integer(value: Any) -> int | None:
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)
