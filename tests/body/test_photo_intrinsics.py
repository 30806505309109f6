"""`body.photo_intrinsics`: which source gives the photo's K, the 35-mm (diagonal) and
focal-plane conversions, the EXIF orientation, and what is refused (the user's values) or
ignored with a warning (EXIF's)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from humanmv.body.photo_intrinsics import (
    focal_35mm_equivalent,
    focal_35mm_to_pixels,
    focal_pixels_to_35mm,
    parse_intrinsics_option,
    resolve_intrinsics,
)
from humanmv.errors import ConfigError
from humanmv.io.exif import ExifFocal

W, H = 4032, 3024  # a 12 MP phone photo, landscape; its diagonal is exactly 5040 px
F26 = 3028.6641  # 26 mm * 5040 px / 43.2666 mm, by hand
PLANE = dict(focal_length_mm=4.25, focal_plane_x_resolution=720.0, focal_plane_y_resolution=720.0,
             focal_plane_resolution_unit=4, exif_image_width=W, exif_image_height=H,
             stored_width=W, stored_height=H)  # 4.25 mm * 720 px/mm = 3060 px


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture
def logged():
    """What the "humanmv" logger says during a test (it may not propagate to pytest's caplog)."""
    logger, handler = logging.getLogger("humanmv"), _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _K(fx: float, fy: float, cx: float, cy: float) -> torch.Tensor:
    return torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=torch.float32)


def _assert_centred(found, fx: float, fy: float, width: int = W, height: int = H, rel: float = 1e-5) -> None:
    assert found.K.dtype == torch.float32 and found.K.shape == (3, 3)
    assert found.K[0, 0].item() == pytest.approx(fx, rel=rel) and found.K[1, 1].item() == pytest.approx(fy, rel=rel)
    assert found.K[0, 2].item() == width / 2 and found.K[1, 2].item() == height / 2, "principal point at the centre"
    assert found.K[0, 1] == 0 and found.K[1, 0] == 0 and found.K[2].tolist() == [0, 0, 1]


# -- the 35-mm (diagonal) convention -------------------------------------------------------------
def test_35mm_equivalent_by_the_diagonal() -> None:
    assert focal_35mm_to_pixels(26, W, H) == pytest.approx(F26, rel=1e-6)
    assert focal_35mm_to_pixels(26, H, W) == focal_35mm_to_pixels(26, W, H), "orientation-independent"
    assert focal_35mm_to_pixels(30, 384, 512) == pytest.approx(443.7603, rel=1e-6)  # 30 * 640 / 43.2666
    assert focal_pixels_to_35mm(F26, W, H) == pytest.approx(26, rel=1e-6)
    # a 36 x 24 mm frame at 1 px per mm: a lens's own focal length in mm is its focal in px
    assert focal_35mm_to_pixels(50, 36, 24) == pytest.approx(50, rel=1e-5)
    assert focal_35mm_equivalent(_K(F26, F26, W / 2, H / 2), W, H) == pytest.approx(26, rel=1e-6)


# -- priorities -----------------------------------------------------------------------------------
def test_priority_K_then_focal_mm_then_exif_35mm_then_focal_plane() -> None:
    exif = ExifFocal(focal_length_35mm=26.0, **PLANE)
    K = _K(1000, 1010, 2000, 1500)
    found = resolve_intrinsics(W, H, focal_mm=50, K=K, exif=exif)
    assert found.source == "K" and torch.equal(found.K, K)
    found = resolve_intrinsics(W, H, focal_mm=50, exif=exif)
    assert found.source == "focal-mm"
    _assert_centred(found, 50 * 5040 / 43.2666, 50 * 5040 / 43.2666)
    found = resolve_intrinsics(W, H, exif=exif)
    assert found.source == "exif:FocalLengthIn35mmFilm"
    _assert_centred(found, F26, F26)
    found = resolve_intrinsics(W, H, exif=ExifFocal(**PLANE))
    assert found.source == "exif:FocalLength+FocalPlaneResolution"
    _assert_centred(found, 3060, 3060)
    assert resolve_intrinsics(W, H) is None, "nothing known: the fit's assumed field of view"
    assert resolve_intrinsics(W, H, exif=ExifFocal(orientation=6, stored_width=H, stored_height=W)) is None
    K_list = [[1000.0, 0.0, 2000.0], [0.0, 1000.0, 1500.0], [0.0, 0.0, 1.0]]  # any 3x3 will do
    assert torch.equal(resolve_intrinsics(W, H, K=K_list).K, torch.tensor(K_list))


# -- the focal-plane path ---------------------------------------------------------------------------
@pytest.mark.parametrize("unit, per_unit", [(2, 720 * 25.4), (3, 7200.0), (4, 720.0), (5, 0.72), (None, 720 * 25.4)])
def test_focal_plane_resolution_units(unit, per_unit) -> None:
    exif = ExifFocal(**{**PLANE, "focal_plane_x_resolution": per_unit, "focal_plane_y_resolution": per_unit,
                        "focal_plane_resolution_unit": unit})  # None: EXIF's default, the inch
    _assert_centred(resolve_intrinsics(W, H, exif=exif), 3060, 3060)


def test_focal_plane_scaled_to_the_stored_size_and_swapped_by_orientation() -> None:
    aniso = {**PLANE, "focal_plane_y_resolution": 600.0}  # fx 3060, fy 2550 px at 4032 x 3024, stored axes
    _assert_centred(resolve_intrinsics(W, H, exif=ExifFocal(**aniso)), 3060, 2550)
    no_y = {**PLANE, "focal_plane_y_resolution": None}
    _assert_centred(resolve_intrinsics(W, H, exif=ExifFocal(**no_y)), 3060, 3060)  # square pixels
    # stored at half the size EXIF's resolutions refer to (an editor resized it): half the pixels
    half = {**aniso, "stored_width": W // 2, "stored_height": H // 2}
    _assert_centred(resolve_intrinsics(W // 2, H // 2, exif=ExifFocal(**half)), 1530, 1275, W // 2, H // 2)
    # Orientation 6 (and 5, 7, 8): the upright photo is 3024 x 4032, its x is the stored y
    for orientation in (5, 6, 7, 8):
        found = resolve_intrinsics(H, W, exif=ExifFocal(**aniso, orientation=orientation))
        _assert_centred(found, 2550, 3060, H, W)
    _assert_centred(resolve_intrinsics(W, H, exif=ExifFocal(**aniso, orientation=3)), 3060, 2550)  # 180: no swap
    found = resolve_intrinsics(H // 2, W // 2, exif=ExifFocal(**half, orientation=6))
    _assert_centred(found, 1275, 1530, H // 2, W // 2)
    # an ExifFocal made by hand (no stored size): the photo as given is the stored one, turned
    by_hand = {**aniso, "stored_width": None, "stored_height": None}
    _assert_centred(resolve_intrinsics(H, W, exif=ExifFocal(**by_hand, orientation=6)), 2550, 3060, H, W)
    # an upright photo resized after loading: the stored image's pixels scale with it
    _assert_centred(resolve_intrinsics(W // 4, H // 4, exif=ExifFocal(**aniso)), 765, 637.5, W // 4, H // 4)


# -- bad values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("focal", [0, -26, 2500, math.nan, math.inf, "abc"])
def test_bad_focal_mm_is_a_one_line_config_error(focal) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_intrinsics(W, H, focal_mm=focal, exif=ExifFocal(focal_length_35mm=26.0))
    message = str(err.value)
    assert message.startswith("--focal-mm") and "35-mm" in message and "\n" not in message
    with pytest.raises(ConfigError, match="--focal-mm"):  # checked even when K makes it unused
        resolve_intrinsics(W, H, focal_mm=focal, K=_K(1000, 1000, W / 2, H / 2))


@pytest.mark.parametrize("K, expected", [
    (torch.eye(2), "3x3"),
    ([[1, 2, 3], [4, 5]], "3x3"),
    ("not a matrix", "3x3"),
    (_K(-1000, 1000, 2000, 1500), "fx and fy must be positive"),
    (_K(1000, 0, 2000, 1500), "fx and fy must be positive"),
    (_K(math.nan, 1000, 2000, 1500), "non-finite"),
    (torch.tensor([[1000.0, 0, 2000], [0, 1000, 1500], [0, 0, 2]]), "[[fx,s,cx],[0,fy,cy],[0,0,1]]"),
    (_K(1000, 1000, 5000, 1500), "outside the 4032x3024 photo"),
])
def test_bad_K_is_a_one_line_config_error(K, expected) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_intrinsics(W, H, K=K)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("tags, expected", [
    ({"focal_length_35mm": 5000.0}, "FocalLengthIn35mmFilm = 5000"),
    ({"focal_length_35mm": math.nan}, "FocalLengthIn35mmFilm = nan"),
    ({"focal_length_35mm": -3.0}, "FocalLengthIn35mmFilm = -3"),
    ({**PLANE, "focal_length_mm": math.nan}, "FocalLength = nan"),
    ({**PLANE, "focal_length_mm": -4.25}, "FocalLength = -4.25"),
    ({**PLANE, "focal_plane_x_resolution": 0.0}, "FocalPlaneX/YResolution = 0"),
    ({**PLANE, "focal_plane_y_resolution": math.inf}, "FocalPlaneX/YResolution = 720 / inf"),
    ({**PLANE, "focal_plane_resolution_unit": 7}, "FocalPlaneResolutionUnit = 7"),
    ({**PLANE, "focal_plane_y_resolution": 100.0}, "makes no sense"),  # fx / fy = 7.2
    ({**PLANE, "focal_length_mm": 400.0}, "makes no sense"),  # a 2470 mm equivalent
])
def test_bad_exif_is_ignored_with_a_warning(logged, tags, expected) -> None:
    assert resolve_intrinsics(W, H, exif=ExifFocal(**tags), name="phone.jpg") is None
    said = logged.warnings()
    assert len(said) == 1 and said[0].startswith("phone.jpg: EXIF") and expected in said[0], said


def test_a_bad_35mm_tag_falls_back_to_the_focal_plane(logged) -> None:
    found = resolve_intrinsics(W, H, exif=ExifFocal(focal_length_35mm=9999.0, **PLANE))
    assert found.source == "exif:FocalLength+FocalPlaneResolution" and len(logged.warnings()) == 1
    found = resolve_intrinsics(W, H, exif=ExifFocal(focal_length_35mm=0.0, **PLANE))  # EXIF's "unknown"
    assert found.source == "exif:FocalLength+FocalPlaneResolution" and len(logged.warnings()) == 1, "0 is no warning"
    # a focal length without the sensor's size: nothing to convert it with, said at INFO level
    assert resolve_intrinsics(W, H, exif=ExifFocal(focal_length_mm=4.25)) is None
    assert len(logged.warnings()) == 1 and "sensor's size" in logged.records[-1].getMessage()


# -- --intrinsics -------------------------------------------------------------------------------------
def test_parse_intrinsics_option_forms(tmp_path: Path) -> None:
    expected = _K(1200, 1190.5, 640, 360)
    assert torch.equal(parse_intrinsics_option("1200,1190.5,640,360"), expected)
    assert torch.equal(parse_intrinsics_option(" 1200, 1190.5 ,640 , 360 "), expected)
    forms = {
        "k.json": {"K": expected.tolist()},
        "fxfy.json": {"fx": 1200, "fy": 1190.5, "cx": 640, "cy": 360},
        "cameras.json": [{"name": "cam0", "K": expected.tolist(), "width": 1280, "height": 720},
                         {"name": "cam1", "K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
        "calibration.txt": {"K": expected.tolist()},  # any file name: it is read as JSON
    }
    for name, data in forms.items():
        (tmp_path / name).write_text(json.dumps(data))
        K = parse_intrinsics_option(str(tmp_path / name))
        assert K.dtype == torch.float32 and torch.equal(K, expected), name


def test_parse_intrinsics_option_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"focal": 26}))
    (tmp_path / "small.json").write_text(json.dumps({"K": [[1, 0], [0, 1]]}))
    (tmp_path / "words.json").write_text(json.dumps({"fx": "wide", "fy": 1, "cx": 1, "cy": 1}))
    cases = {
        "1200,1190,640": "neither 4 comma-separated numbers nor a JSON file",
        "a,b,c,d": "fx,fy,cx,cy must be numbers",
        "-5,1190,640,360": "fx and fy must be positive",
        "nan,1190,640,360": "non-finite",
        "": "neither 4 comma-separated numbers",
        str(tmp_path / "missing.json"): "no such file",
        str(tmp_path / "broken.json"): "not a readable JSON file",
        str(tmp_path / "other.json"): "holds no camera matrix",
        str(tmp_path / "small.json"): "3x3",
        str(tmp_path / "words.json"): "must be numbers",
    }
    for text, expected in cases.items():
        with pytest.raises(ConfigError) as err:
            parse_intrinsics_option(text)
        message = str(err.value)
        assert message.startswith(f"--intrinsics {text!r}") and expected in message, (text, message)
        assert "\n" not in message and "fx,fy,cx,cy" in message, "names the fix"
