"""`io.exif.read_exif_focal` and `load_image`'s `exif_focal`: the focal-length tags of JPEGs
written here with PIL, read back; broken or absent EXIF is None, never an exception."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from humanmv.io.exif import ExifFocal, read_exif_focal
from humanmv.io.images import load_image


def _photo(path: Path, size: tuple[int, int] = (160, 120), orientation: int | None = None,
           **tags) -> Path:
    """A JPEG of `size` (stored width, height) whose Exif IFD holds `tags` (tag id -> value)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    ifd = exif.get_ifd(0x8769)
    for tag, value in tags.items():
        ifd[int(tag, 16)] = value
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[: size[1] // 2] = (200, 40, 40)  # top half red: shows which way the photo was turned
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    return path


PHONE = {"0xA405": 26, "0x920A": IFDRational(425, 100), "0xA20E": IFDRational(720, 1),
         "0xA20F": IFDRational(600, 1), "0xA210": 4, "0xA002": 4032, "0xA003": 3024}


def test_every_focal_tag_is_read_back(tmp_path: Path) -> None:
    path = _photo(tmp_path / "phone.jpg", **PHONE)
    found = read_exif_focal(path)
    assert found == ExifFocal(focal_length_35mm=26.0, focal_length_mm=4.25, focal_plane_x_resolution=720.0,
                              focal_plane_y_resolution=600.0, focal_plane_resolution_unit=4,
                              exif_image_width=4032, exif_image_height=3024, stored_width=160,
                              stored_height=120, orientation=None)
    assert found.has_focal and not found.rotated
    with Image.open(path) as img:  # an open PIL image works the same as its path
        assert read_exif_focal(img) == found
    assert load_image(path).exif_focal == found


def test_some_tags_only_and_the_unknown_marker(tmp_path: Path) -> None:
    found = read_exif_focal(_photo(tmp_path / "a.jpg", **{"0xA405": 0}))  # EXIF's 0: "unknown"
    assert found.focal_length_35mm == 0 and found.focal_length_mm is None
    assert found.focal_plane_x_resolution is None and found.focal_plane_resolution_unit is None
    found = read_exif_focal(_photo(tmp_path / "b.jpg", **{"0x920A": IFDRational(0, 0)}))
    assert math.isnan(found.focal_length_mm), "kept as stored: photo_intrinsics judges (and warns)"


def test_rotated_orientation_keeps_the_stored_frame(tmp_path: Path) -> None:
    path = _photo(tmp_path / "portrait.jpg", size=(160, 120), orientation=6, **PHONE)
    found = read_exif_focal(path)
    assert found.orientation == 6 and found.rotated
    assert (found.stored_width, found.stored_height) == (160, 120)
    assert (found.exif_image_width, found.focal_plane_x_resolution) == (4032, 720.0)
    loaded = load_image(path)
    assert (loaded.width, loaded.height) == (120, 160), "the photo itself comes upright"
    assert loaded.rgb[:, -10:, 0].mean() > 150 and loaded.rgb[:, :10, 0].mean() < 50, "turned clockwise"
    assert loaded.exif_focal == found, "read before the orientation was applied"
    for orientation, rotated in [(1, False), (3, False), (5, True), (8, True)]:
        assert read_exif_focal(_photo(tmp_path / f"o{orientation}.jpg", orientation=orientation)).rotated is rotated


def test_no_exif_is_none(tmp_path: Path) -> None:
    Image.new("RGB", (96, 96), (10, 20, 30)).save(tmp_path / "plain.jpg")
    Image.new("RGB", (96, 96), (10, 20, 30)).save(tmp_path / "plain.png")
    for name in ("plain.jpg", "plain.png"):
        assert read_exif_focal(tmp_path / name) is None
        assert load_image(tmp_path / name).exif_focal is None
    # an EXIF block with nothing about the focal length or orientation is no information either
    exif = Image.Exif()
    exif[0x010F] = "a maker"
    Image.new("RGB", (96, 96)).save(tmp_path / "maker.jpg", exif=exif)
    assert read_exif_focal(tmp_path / "maker.jpg") is None


BROKEN = {
    "garbage": b"Exif\x00\x00garbage-garbage",
    "truncated entries": b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01",
    "sub-IFD out of range": (b"Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00"
                             b"\x00\x00\xff\xff\x00\x00"),
}


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # load_image's orientation step (PIL's own)
def test_broken_exif_is_none_and_the_photo_still_loads(tmp_path: Path, case: str) -> None:
    path = tmp_path / "broken.jpg"
    Image.new("RGB", (96, 80), (90, 90, 90)).save(path, exif=BROKEN[case])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning from PIL's parser
        assert read_exif_focal(path) is None
    loaded = load_image(path)
    assert loaded.exif_focal is None and (loaded.width, loaded.height) == (96, 80)


def test_unreadable_inputs_are_none_not_errors(tmp_path: Path) -> None:
    (tmp_path / "text.jpg").write_text("not an image")
    assert read_exif_focal(tmp_path / "text.jpg") is None
    assert read_exif_focal(tmp_path / "missing.jpg") is None
    assert read_exif_focal(tmp_path) is None
