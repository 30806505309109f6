"""Atomic writers: an output is either complete or absent, never half-written.

`atomic_output_dir` builds a whole output folder in a temporary sibling folder (same file system)
and renames it into place only when the block finishes without an exception.
`atomic_write_bytes` / `atomic_write_text` do the same for one file (temp file + `os.replace`).
Problems a user can fix (the output exists, its parent is not writable) are `OutputError`s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from humanmv.errors import OutputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # what open() would have given a new file


def _is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def _shown(out: Path) -> str:
    return f"{out}/" if out.is_dir() else str(out)


@contextlib.contextmanager
def atomic_output_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder next to `out`; on success it becomes `out`.

    - An existing `out` that is a non-empty folder (or a file) is refused unless `overwrite`:
      `OutputError("out/ exists; pass --overwrite or choose another --out")`. With `overwrite`,
      the old `out` is removed only after the new one is complete and renamed into place.
    - The parent folder is created if needed; if it cannot be created or written, an
      `OutputError` names it.
    - On any exception inside the block (KeyboardInterrupt included) the temporary folder is
      removed and `out` is left as it was.
    """
    out = Path(out)
    _refuse_existing(out, overwrite)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(
            f"{parent}: cannot write the output folder there ({reason}); choose another --out"
        ) from exc

    try:
        yield tmp
        _refuse_existing(out, overwrite)  # someone may have written there meanwhile
        commit_output_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def refuse_existing_output(out: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Fail early (before slow work) with the `OutputError` `atomic_output_dir` would raise.

    Checks that `out` does not exist (or is an empty folder) unless `overwrite`, and that the
    nearest existing ancestor of `out` is a writable folder. Creates nothing.
    """
    out = Path(out)
    _refuse_existing(out, overwrite)
    ancestor = out.parent if str(out.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{ancestor}: is not a folder, cannot hold the output; choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{ancestor}: is not writable; choose another --out")


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if overwrite or not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not out.is_symlink() and _is_empty_dir(out):
        return
    raise OutputError(f"{_shown(out)} exists; pass --overwrite or choose another --out")


def commit_output_dir(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`, moving any old `out` aside first and deleting it last."""
    old: Path | None = None
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=tmp.parent))
        old_target = old / "previous"
        os.rename(out, old_target)
    try:
        os.rename(tmp, out)
    except OSError as exc:
        if old is not None:  # put the previous output back
            os.rename(old / "previous", out)
            shutil.rmtree(old, ignore_errors=True)
        raise OutputError(f"{out}: cannot be written ({exc.strerror}); choose another --out") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, fsync: bool = True) -> Path:
    """Write `data` to `path` via a temp file in the same folder + `os.replace`.

    The parent folder is created if needed. A reader sees the old file or the new one, never a
    partial one. Raises `OutputError` if the folder cannot be written.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    tmp_name: str | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{path}: cannot be written ({reason}); choose another --out") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return path


def atomic_write_text(
    path: str | os.PathLike[str], text: str, encoding: str = "utf-8", fsync: bool = True
) -> Path:
    """`atomic_write_bytes` for text (UTF-8 by default)."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)
