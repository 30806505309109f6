"""A photo uploaded through the page enters humanmv exactly as a file given to the CLI does:
through `humanmv.io.images.load_image`, with its checks (type, size in pixels, empty, truncated)
and its one-line messages. The one difference: a message names the upload by the file name the
user chose, not by the server's temporary path (which means nothing to them and says where the
server keeps its files)."""

from __future__ import annotations

from pathlib import Path

from humanmv.errors import InputImageError
from humanmv.io.images import LoadedImage, load_image


def load_upload(path: str | Path) -> LoadedImage:
    """The uploaded photo at `path` (a file the browser sent, stored under its own name).

    Raises the `InputImageError` of `load_image`, its message naming `path.name`.
    """
    path = Path(path)
    try:
        return load_image(path)
    except InputImageError as err:
        raise InputImageError(str(err).replace(str(path), path.name)) from err


def thumbnail(photo: LoadedImage, longest: int = 384):
    """(h, w, 3) uint8 copy of the photo whose longest side is at most `longest` pixels: what
    the page shows back, so a 50-megapixel upload is not sent back to the browser."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(photo.rgb)
    image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return np.asarray(image)
