"""load_image validation and conversions; save_png / tensor round trips."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humanmv.errors import InputImageError
from humanmv.io.images import from_tensor, load_image, save_png, to_tensor
from humanmv.views import channels_first


def _rgb(h: int = 80, w: int = 120) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _refused(path: Path | str, *fragments: str) -> str:
    with pytest.raises(InputImageError) as info:
        load_image(path)
    msg = str(info.value)
    assert "\n" not in msg, "messages are one line"
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# ------------------------------------------------------------------------------ bad inputs


def test_missing_file(tmp_path: Path) -> None:
    msg = _refused(tmp_path / "photo.jpg", "photo.jpg: file not found")
    assert msg.endswith("photo.jpg: file not found")


def test_directory(tmp_path: Path) -> None:
    _refused(tmp_path, "is a directory, give an image file")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    _refused(p, "empty.jpg", "is empty (0 bytes)")


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "noise.jpg"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _refused(p, "noise.jpg", "is not an image PIL can read", "JPEG, PNG")


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(256, 256)).save(buf, format="JPEG", quality=95)
    data = buf.getvalue()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    _refused(p, "cut.jpg", "truncated or corrupt")


def _png_with_header_size(tmp_path: Path, w: int, h: int) -> Path:
    """A valid tiny PNG whose IHDR claims w x h (CRC fixed), so only the header lies."""
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    p = tmp_path / "huge.png"
    p.write_bytes(bytes(data))
    return p


def test_huge_header_refused_before_decoding(tmp_path: Path) -> None:
    p = _png_with_header_size(tmp_path, 30000, 30000)
    _refused(p, "huge.png", "30000x30000 = 900 MP", "over 50 MP are refused, downscale it first")


def test_over_50_mp_below_pil_limit(tmp_path: Path) -> None:
    p = _png_with_header_size(tmp_path, 8000, 8000)  # 64 MP: PIL itself would not complain
    _refused(p, "8000x8000 = 64 MP")


def test_pil_decompression_bomb_is_an_input_error(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "bomb.png"
    Image.fromarray(_rgb(100, 100)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2x limit: PIL raises
    _refused(p, "bomb.png", "downscale it first")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # between 1x and 2x: PIL only warns
    _refused(p, "bomb.png", "downscale it first")


def test_too_small(tmp_path: Path) -> None:
    p = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(p)
    _refused(p, "dot.png: is 1x1 pixels; at least 64 px on the short side is needed")
    p2 = tmp_path / "strip.png"
    Image.new("RGB", (500, 63)).save(p2)
    _refused(p2, "500x63")


# ------------------------------------------------------------------------------ conversions


def test_exif_orientation_applied(tmp_path: Path) -> None:
    stored = np.zeros((80, 120, 3), dtype=np.uint8)  # stored landscape: left red, right blue
    stored[:, :60] = (255, 0, 0)
    stored[:, 60:] = (0, 0, 255)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rotated.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    out = load_image(p)
    assert out.rgb.shape == (120, 80, 3)  # width and height swapped
    top, bottom = out.rgb[:50].mean(axis=(0, 1)), out.rgb[70:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, "stored left (red) is displayed on top"
    assert bottom[2] > 200 and bottom[0] < 50


def test_cmyk_jpeg(tmp_path: Path) -> None:
    colour = np.full((80, 120, 3), (200, 60, 30), dtype=np.uint8)
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(colour).convert("CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    out = load_image(p)
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (80, 120, 3)
    assert np.abs(out.rgb.astype(int) - colour).max() <= 12
    assert out.alpha is None


def test_16_bit_png_scaled_to_8_bit(tmp_path: Path) -> None:
    grey16 = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (70, 1))
    p = tmp_path / "deep.png"
    Image.fromarray(grey16).save(p)
    assert Image.open(p).mode.startswith("I")
    out = load_image(p)
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (70, 128, 3)
    expected = np.rint(grey16 / 257.0)
    assert np.abs(out.rgb[:, :, 0].astype(int) - expected).max() <= 1
    assert out.rgb[0, 0, 0] == 0 and out.rgb[0, -1, 0] == 255
    assert np.array_equal(out.rgb[:, :, 0], out.rgb[:, :, 2])


def test_greyscale(tmp_path: Path) -> None:
    grey = np.tile(np.arange(100, dtype=np.uint8), (64, 1))
    p = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(p)
    out = load_image(p)
    assert out.rgb.shape == (64, 100, 3)
    for c in range(3):
        assert np.array_equal(out.rgb[:, :, c], grey)


def test_rgba_keeps_alpha_and_colours(tmp_path: Path) -> None:
    rgb = _rgb(70, 90)
    alpha = np.zeros((70, 90), dtype=np.uint8)
    alpha[10:50, 20:70] = 255
    alpha[0, 0] = 128
    p = tmp_path / "cut_out.png"
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(p)
    out = load_image(p)
    assert np.array_equal(out.alpha, alpha)
    assert np.array_equal(out.rgb, rgb), "colours kept as stored, even where alpha is 0"
    assert out.name == "cut_out.png" and (out.width, out.height) == (90, 70)


def test_la_and_palette_transparency(tmp_path: Path) -> None:
    la = np.dstack([np.full((64, 64), 90, np.uint8), np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))])
    p = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(p)
    out = load_image(p)
    assert np.array_equal(out.alpha, la[:, :, 1]) and (out.rgb == 90).all()

    pal = Image.new("P", (64, 64), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(1, (0, 0, 32, 64))
    p2 = tmp_path / "pal.png"
    pal.save(p2, transparency=0)
    out2 = load_image(p2)
    assert out2.alpha is not None and out2.alpha[:, :32].min() == 255 and out2.alpha[:, 32:].max() == 0
    assert tuple(out2.rgb[5, 5]) == (0, 255, 0)


def test_opaque_alpha_dropped(tmp_path: Path) -> None:
    p = tmp_path / "opaque.png"
    Image.fromarray(_rgb()).convert("RGBA").save(p)
    assert load_image(p).alpha is None


def test_jpeg_round_trip_values(tmp_path: Path) -> None:
    p = tmp_path / "ok.png"
    rgb = _rgb()
    Image.fromarray(rgb).save(p)
    out = load_image(str(p))
    assert out.rgb.flags["C_CONTIGUOUS"] and np.array_equal(out.rgb, rgb)
    assert out.path == p


# ------------------------------------------------------------------------------ saving / tensors


def test_save_png_variants(tmp_path: Path) -> None:
    rgb = _rgb()
    save_png(tmp_path / "a" / "u8.png", rgb)  # parent created
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "u8.png")), rgb)

    f = rgb.astype(np.float32) / 255.0
    f[0, 0] = (-1.0, 2.0, np.nan)  # clipped / zeroed, not wrapped
    save_png(tmp_path / "f.png", f)
    back = np.asarray(Image.open(tmp_path / "f.png"))
    assert tuple(back[0, 0]) == (0, 255, 0) and np.array_equal(back[1:], rgb[1:])

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    save_png(tmp_path / "rgba.png", rgba)
    assert Image.open(tmp_path / "rgba.png").mode == "RGBA"

    save_png(tmp_path / "one.png", rgb[:, :, :1])
    assert Image.open(tmp_path / "one.png").mode == "L"

    save_png(tmp_path / "mask.png", rgb[:, :, 0] > 127)
    assert set(np.unique(np.asarray(Image.open(tmp_path / "mask.png")))) <= {0, 255}

    depth = np.full((10, 12), 1234, dtype=np.uint16)
    save_png(tmp_path / "depth.png", depth)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "depth.png")), depth)

    t = channels_first(torch.from_numpy(rgb)).float() / 255.0  # (C, H, W)
    save_png(tmp_path / "t.png", t)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t.png")), rgb)
    save_png(tmp_path / "t4.png", t[None])  # (1, C, H, W)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t4.png")), rgb)

    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    with pytest.raises(ValueError):
        save_png(tmp_path / "bad.png", np.zeros((4, 4, 5), np.uint8))


def test_tensor_round_trip() -> None:
    rgb = _rgb()
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 80, 120) and t.dtype == torch.float32
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert torch.allclose(t[0, :, 3, 5], torch.tensor(rgb[3, 5] / 255.0, dtype=torch.float32))
    assert np.array_equal(from_tensor(t), rgb)
    assert np.array_equal(from_tensor(t[0]), rgb)
    with pytest.raises(ValueError):
        to_tensor(rgb.astype(np.float32))
