"""Loading, validating and saving images.

`load_image` is the one way a user's photo enters humanmv: every problem a user can cause (a
missing file, a directory, an empty or truncated file, something that is not an image, an image
far too large or too small) becomes one `InputImageError` whose message names the file, the
problem and the fix. Whatever the file's mode (greyscale, palette, CMYK, 16-bit, with or without
alpha) and EXIF orientation, the result is upright 8-bit RGB plus an optional alpha channel.

Images in memory follow docs/architecture.md: numpy `(H, W, C)` uint8 here; `to_tensor` /
`from_tensor` convert to and from the networks' channels-first float32 tensors in [0, 1].
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from humanmv.errors import InputImageError
from humanmv.io.atomic import atomic_write_bytes
from humanmv.io.exif import ExifFocal, read_exif_focal

if TYPE_CHECKING:  # torch is imported lazily: loading a photo must not pay for it
    import torch

LOG = logging.getLogger("humanmv")

MAX_MEGAPIXELS = 50
"""Images with more pixels than this (in millions) are refused before they are decoded."""
MIN_SHORT_SIDE = 64
"""Images whose short side is smaller than this (pixels) are refused."""
READABLE_FORMATS = "JPEG, PNG, WebP, BMP, TIFF"


@dataclass
class LoadedImage:
    """An upright photo as loaded from disk.

    rgb:   (H, W, 3) uint8, the colour channels as stored (not premultiplied by alpha).
    alpha: (H, W) uint8, or None when the file has no alpha channel or it is fully opaque.
    path:  the file it came from.
    exif_focal: the focal-length tags of its EXIF block (`io.exif`; read before the
           orientation was applied, so they describe the stored image), or None.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    path: Path
    exif_focal: ExifFocal | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def load_image(path: str | os.PathLike[str]) -> LoadedImage:
    """Load a photo as upright 8-bit RGB (+ alpha), refusing what cannot be used.

    Raises `InputImageError` (one line: file, problem, fix) when the path is missing, a
    directory, empty, not an image, larger than `MAX_MEGAPIXELS` (checked from the header,
    before decoding), smaller than `MIN_SHORT_SIDE` on its short side, or truncated/corrupt.
    16-bit images are scaled to 8 bit, CMYK/greyscale/palette converted to RGB, EXIF
    orientation applied; the first frame of an animated or multi-page file is used. The
    EXIF focal-length tags, when there are any, come along as `exif_focal`.
    """
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise InputImageError(f"{shown}: file not found")
    if p.is_dir():
        raise InputImageError(f"{shown}: is a directory, give an image file")
    try:
        n_bytes = p.stat().st_size
    except OSError as exc:
        raise InputImageError(f"{shown}: cannot be read ({exc.strerror})") from exc
    if n_bytes == 0:
        raise InputImageError(f"{shown}: is empty (0 bytes)")

    with warnings.catch_warnings():
        # PIL only warns between MAX_IMAGE_PIXELS and twice that: make it an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(p)  # lazy: reads the header only
        except UnidentifiedImageError as exc:
            raise InputImageError(
                f"{shown}: is not an image PIL can read ({READABLE_FORMATS})"
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputImageError(_too_large_message(shown, _header_size(p), True)) from exc
        except PermissionError as exc:
            raise InputImageError(f"{shown}: cannot be read (permission denied)") from exc
        except Exception as exc:  # a header so broken PIL fails while identifying it
            raise InputImageError(f"{shown}: is truncated or corrupt ({exc})") from exc

        with img:
            w, h = img.size
            if w * h > MAX_MEGAPIXELS * 1_000_000:
                raise InputImageError(_too_large_message(shown, (w, h)))
            if min(w, h) < MIN_SHORT_SIDE:
                raise InputImageError(
                    f"{shown}: is {w}x{h} pixels; at least {MIN_SHORT_SIDE} px on the short "
                    "side is needed"
                )
            try:
                img.load()  # force the full decode here so truncated files are caught
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise InputImageError(_too_large_message(shown, (w, h), True)) from exc
            except Exception as exc:
                raise InputImageError(
                    f"{shown}: is truncated or corrupt ({exc}); re-export or re-download it"
                ) from exc
            exif_focal = read_exif_focal(img)  # before _upright: it describes the stored image
            img = _upright(img, shown)
            try:
                rgb, alpha = _to_rgb_alpha(img)
            except ValueError as exc:  # e.g. a LAB or HSV TIFF PIL cannot convert
                raise InputImageError(
                    f"{shown}: uses colour mode {img.mode} which cannot be converted to RGB; "
                    "save it as an RGB JPEG or PNG"
                ) from exc

    return LoadedImage(rgb=rgb, alpha=alpha, path=p, exif_focal=exif_focal)


def _too_large_message(shown: str, size: tuple[int, int] | None, pil_refused: bool = False) -> str:
    limit = MAX_MEGAPIXELS * 1e6
    if pil_refused and Image.MAX_IMAGE_PIXELS:  # PIL's own limit, should someone lower it
        limit = min(limit, float(Image.MAX_IMAGE_PIXELS))
    what = "is too large to decode safely" if size is None else (
        f"is {size[0]}x{size[1]} = {_megapixels(size[0] * size[1])} MP"
    )
    return f"{shown}: {what}; images over {_megapixels(limit)} MP are refused, downscale it first"


def _megapixels(pixels: float) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.2g}"


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header alone, bypassing PIL's decompression-bomb check.

    `Image.open` refuses images over twice `Image.MAX_IMAGE_PIXELS` without saying their size;
    this asks the format plugins directly (as `Image.open` does before its check), so the
    message can name the size. None if no plugin identifies the file.
    """
    try:
        Image.preinit()
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in list(Image.ID):
                factory, accept = Image.OPEN[fmt]
                if accept is not None and not accept(prefix):
                    continue
                fp.seek(0)
                try:
                    with factory(fp, str(path)) as im:
                        return int(im.size[0]), int(im.size[1])
                except Exception:
                    continue
    except Exception:
        return None
    return None


def _upright(img: Image.Image, shown: str) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block is logged, not fatal."""
    try:
        out = ImageOps.exif_transpose(img)
    except Exception as exc:  # malformed EXIF must not refuse an otherwise good photo
        LOG.warning("%s: EXIF orientation unreadable (%s); using the image as stored", shown, exc)
        return img
    return out if out is not None else img


def _to_rgb_alpha(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL mode -> ((H, W, 3) uint8 RGB, (H, W) uint8 alpha or None)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("RGBa", "La"):  # premultiplied: un-premultiply
        img = img.convert("RGBA" if mode == "RGBa" else "LA")
    mode = img.mode

    alpha: np.ndarray | None = None
    if mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.uint8).copy()
        img = img.convert("RGB") if mode == "RGBA" else img.getchannel("L")
        mode = img.mode

    if mode.startswith("I") or mode == "F":
        grey = _high_bit_depth_to_uint8(np.asarray(img), mode)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)

    if alpha is not None and alpha.min() == 255:
        alpha = None  # fully opaque: no information, and callers test `alpha is not None`
    return np.ascontiguousarray(rgb), alpha


def _high_bit_depth_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """16-bit (`I;16*`), 32-bit int (`I`) or float (`F`) greyscale -> uint8.

    `I;16*` is always scaled by 255/65535. `I` (how some readers return 16-bit PNGs) is scaled
    the same way when it holds values above 255, else taken as 8-bit. `F` in [0, 1] is scaled
    by 255, otherwise clipped to [0, 255].
    """
    a = arr.astype(np.float64)
    if mode.startswith("I;16"):
        a = a / 257.0
    elif mode == "I":
        if a.max(initial=0) > 255:
            a = np.clip(a, 0, 65535) / 257.0
    elif mode == "F":
        finite = a[np.isfinite(a)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1.0:
            a = a * 255.0
        a = np.nan_to_num(a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- saving / tensors


def save_png(path: str | os.PathLike[str], array: Any, fsync: bool = True) -> Path:
    """Write an image as PNG, atomically (temp file + rename); parent folders are created.

    fsync: flush the file to disk before the rename; pass False for files inside a folder that
      is itself committed atomically (`atomic_output_dir`), where it only costs time.

    array: numpy (H, W), (H, W, 1|3|4) or a torch tensor (C, H, W) / (1, C, H, W) with C in
      {1, 3, 4}. uint8 is written as is; bool as 0/255; float is clipped to [0, 1] and scaled
      to 8 bit; uint16 (H, W) is written as a 16-bit greyscale PNG (e.g. depth in mm).
    Returns the path written.
    """
    arr = _as_hwc_numpy(array)
    if arr.dtype == np.uint16:
        if arr.ndim != 2:
            raise ValueError(f"uint16 images must be (H, W) greyscale, got {arr.shape}")
        pil = Image.fromarray(arr)
    else:
        arr = to_uint8(arr)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        pil = Image.fromarray(np.ascontiguousarray(arr))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=3)  # ~3x faster than the default 6, ~10% larger
    out = Path(path)
    atomic_write_bytes(out, buf.getvalue(), fsync=fsync)
    return out


def _as_hwc_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor: (C, H, W) or (1, C, H, W)
        from humanmv.views import channels_last

        t = array.detach().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"save_png takes one image, got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise ValueError(f"expected a (C, H, W) tensor with C in 1, 3, 4, got {tuple(t.shape)}")
        arr = channels_last(t).numpy()
    else:
        arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected (H, W, 1|3|4), got {arr.shape}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got {arr.shape}")
    return arr


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """uint8 as is, bool as 0/255, float clipped to [0, 1] and scaled; other dtypes refused."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float32), nan=0.0)
        return np.clip(np.rint(np.clip(a, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {arr.dtype}: use uint8, bool, float or uint16")


def to_tensor(rgb: np.ndarray) -> "torch.Tensor":
    """(H, W, C) or (H, W) uint8 -> (1, C, H, W) float32 in [0, 1] (C = 1 for (H, W))."""
    import torch

    from humanmv.views import channels_first

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ValueError(f"to_tensor expects uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"to_tensor expects (H, W, C), got {arr.shape}")
    t = channels_first(torch.from_numpy(np.ascontiguousarray(arr))).float().div_(255.0)
    return t.unsqueeze(0).contiguous()


def from_tensor(t: "torch.Tensor") -> np.ndarray:
    """(1, C, H, W) or (C, H, W) float in [0, 1] -> (H, W, C) uint8 (values clipped)."""
    return to_uint8(_as_hwc_numpy(t).astype(np.float32))
