"""The download: a job's output folder as one zip."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

# Already-compressed formats are stored as is: deflating them again costs time and saves nothing.
_STORED = {".png", ".mp4", ".jpg", ".jpeg", ".webp"}


def zip_folder(folder: Path, dst: Path, prefix: str) -> Path:
    """Write `dst`, a zip of every file under `folder`, each as `prefix/RELATIVE/PATH`, in
    sorted order. Written to a temporary file and renamed, so `dst` is whole or absent."""
    folder, dst = Path(folder), Path(dst)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for path in files:
                method = zipfile.ZIP_STORED if path.suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
                archive.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}", compress_type=method)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst
