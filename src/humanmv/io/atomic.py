"""Atomic writers: an output is either complete or absent, never half-written.

`atomic_output_dir` builds a whole output folder in a temporary sibling folder (same file system)
and renames it into place only when the block finishes without an exception.
`atomic_write_bytes` / `atomic_write_text` do the same for one file (temp file + `os.replace`).
Problems a user can fix (the output exists, its parent is not writable) are `OutputError`s.

Temporary folders are named after their owner, `.NAME.tmp-HOST-PID-START-RANDOM` (HOST: the
host name with every character but letters and digits made `_`; PID: the writing process;
START: that process's start time in clock ticks since boot, from /proc, 0 where unknown;
RANDOM: mkdtemp's unique suffix), and so are the `.NAME.old-...` folders an overwrite moves the
previous output into. A process killed with SIGKILL leaves its folder behind;
`remove_stale_temporaries` (which `atomic_output_dir` runs for its own NAME before it starts)
removes a leftover only when its owner is certainly gone:
- this host's folder: when no process PID runs here, or it is a zombie, or a process PID runs
  but started at another time than START (the PID was reused). A live owner's folder is kept.
- another host's folder, or one whose name does not say its owner (older humanmv versions):
  only when nothing in it has changed for `foreign_after_s` (default 24 hours), since from
  here we cannot tell whether its writer is alive.
A stale `.NAME.old-*` folder whose NAME is missing holds the previous output of a run killed
between its two renames: it is put back as NAME rather than deleted.
Hosts are told apart by host name only: containers sharing a host name and an output folder
but not a PID namespace would see each other's writers as dead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from humanmv.errors import OutputError

FOREIGN_STALE_AFTER_S = 24 * 3600.0  # another host's leftovers: untouched this long = stale

_OWNER = re.compile(r"^(?P<kind>tmp|old)-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-(?P<start>\d+)-[A-Za-z0-9_]+$")
# A name with an owner, or mkdtemp's bare 8-character suffix (folders of older versions).
_ANY = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-"
                  r"(?:[A-Za-z0-9_]+-\d+-\d+-[a-z0-9_]+|[a-z0-9_]{8})$")


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


# -- owners of temporary folders --------------------------------------------------------------
def host_tag() -> str:
    """This host's name as it appears in temporary folder names (letters, digits and `_`)."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "_"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of a process, or None when
    /proc has no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return fields[0], int(fields[19])


def _start_ticks(pid: int) -> int:
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else 0


def temp_owner(pid: int | None = None) -> str:
    """`HOST-PID-START` of a process of this host (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return f"{host_tag()}-{pid}-{_start_ticks(pid)}"


def _process_alive(pid: int, start: int) -> bool:
    """Whether process `pid` of this host, started at `start` ticks (0: unknown), still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    except OSError:
        return True  # cannot tell: keep its folder
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self/stat").exists()  # no /proc: os.kill's answer stands
    state, started = stat
    if state == "Z":  # killed, not yet reaped by its parent: it writes nothing more
        return False
    return start == 0 or started == start


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for root, dirs, files in os.walk(folder):
        for entry in dirs + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, entry)).st_mtime)
    return newest


def is_stale_temporary(path: Path, foreign_after_s: float = FOREIGN_STALE_AFTER_S,
                       now: float | None = None) -> bool:
    """Whether `path` (a `.NAME.tmp-*` or `.NAME.old-*` folder) is a leftover of a writer
    that is gone, by the rule in this module's docstring."""
    suffix = path.name.rsplit(".", 1)[-1]
    owner = _OWNER.match(suffix)
    if owner is not None and owner["host"] == host_tag():
        return not _process_alive(int(owner["pid"]), int(owner["start"]))
    try:
        age = (time.time() if now is None else now) - _newest_mtime(path)
    except OSError:
        return False
    return age > foreign_after_s


def remove_stale_temporaries(parent: str | os.PathLike[str], name: str | None = None,
                             foreign_after_s: float = FOREIGN_STALE_AFTER_S) -> list[Path]:
    """Remove the stale temporary folders atomic writers left in `parent` (those of output
    `name` only, or of every output when None); a stale `.NAME.old-*` whose NAME is missing is
    renamed back to NAME. Never raises for a folder it cannot read or remove (it stays).
    Returns the folders removed or put back."""
    parent = Path(parent)
    done: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return done
    for entry in sorted(entries, key=lambda e: e.name):
        found = _ANY.match(entry.name)
        if found is None or (name is not None and found["name"] != name):
            continue
        path = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False) or not is_stale_temporary(path, foreign_after_s):
            continue
        out = parent / found["name"]
        previous = path / "previous"
        if found["kind"] == "old" and (previous.exists() or previous.is_symlink()) \
                and not (out.exists() or out.is_symlink()):
            with contextlib.suppress(OSError):
                os.rename(previous, out)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            done.append(path)
    return done


def _make_temporary(parent: Path, name: str, kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".{name}.{kind}-{temp_owner()}-", dir=parent))


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
    - Stale temporary folders of `out` that killed runs left next to it are removed first
      (`remove_stale_temporaries`); a live writer's are kept.
    """
    out = Path(out)
    _refuse_existing(out, overwrite)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(parent, out.name)
        tmp = _make_temporary(parent, out.name, "tmp")
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
        old = _make_temporary(tmp.parent, out.name, "old")
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
