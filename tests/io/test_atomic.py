"""atomic_output_dir / atomic_write_*: outputs are complete or absent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from humanmv.errors import OutputError
from humanmv.io.atomic import (
    atomic_output_dir,
    atomic_write_bytes,
    atomic_write_text,
    host_tag,
    refuse_existing_output,
    remove_stale_temporaries,
    temp_owner,
)


def _leftovers(parent: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def test_success_creates_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out, overwrite=False) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not any(tmp.iterdir())
        assert not out.exists(), "nothing visible at out until the block succeeds"
        (tmp / "a.txt").write_text("hello")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("world")
    assert (out / "a.txt").read_text() == "hello"
    assert (out / "sub" / "b.txt").read_text() == "world"
    assert _leftovers(tmp_path, {"out"}) == []


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output_dir(out, overwrite=False) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert not out.exists()
    assert _leftovers(tmp_path, set()) == []


def test_existing_refused_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(OutputError) as info:
        with atomic_output_dir(out, overwrite=False):
            pytest.fail("must not enter the block")
    assert str(info.value) == f"{out}/ exists; pass --overwrite or choose another --out"
    assert (out / "old.txt").read_text() == "keep me"
    assert _leftovers(tmp_path, {"out"}) == []


def test_existing_empty_dir_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with atomic_output_dir(out) as tmp:
        (tmp / "x").write_text("1")
    assert (out / "x").read_text() == "1"


def test_overwrite_replaces_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_output_dir(out, overwrite=True) as tmp:
        assert (out / "old.txt").read_text() == "old", "old output kept while the new one is built"
        (tmp / "new.txt").write_text("new")
    assert (out / "new.txt").read_text() == "new"
    assert not (out / "old.txt").exists()
    assert _leftovers(tmp_path, {"out"}) == []


def test_overwrite_failure_keeps_old(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(out, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert (out / "old.txt").read_text() == "old" and not (out / "new.txt").exists()
    assert _leftovers(tmp_path, {"out"}) == []


def test_overwrite_replaces_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        with atomic_output_dir(out):
            pass
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "x").write_text("1")
    assert out.is_dir() and (out / "x").read_text() == "1"


def test_unwritable_parent_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "sub"  # tests may run as root, so a file as parent stands in for chmod
    with pytest.raises(OutputError) as info:
        with atomic_output_dir(out):
            pytest.fail("must not enter the block")
    msg = str(info.value)
    assert "file.txt" in msg and "--out" in msg and "\n" not in msg
    assert blocker.read_text() == "not a folder"


def test_parent_created(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with atomic_output_dir(out) as tmp:
        (tmp / "x").write_text("1")
    assert (out / "x").read_text() == "1"


def test_atomic_write_bytes_and_text(tmp_path: Path) -> None:
    p = tmp_path / "d" / "f.bin"
    atomic_write_bytes(p, b"one")
    assert p.read_bytes() == b"one"
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    atomic_write_text(tmp_path / "t.json", '{"ü": 1}')
    assert (tmp_path / "t.json").read_text(encoding="utf-8") == '{"ü": 1}'
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask), "same permissions as a plain open()"
    assert _leftovers(tmp_path / "d", {"f.bin"}) == []


def test_atomic_write_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot be written"):
        atomic_write_bytes(blocker / "f.bin", b"data")
    assert _leftovers(tmp_path, {"file.txt"}) == []


def test_refuse_existing_output_fails_early_and_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    refuse_existing_output(out, overwrite=False)  # fine: nothing there yet
    assert not (tmp_path / "new").exists(), "creates nothing"
    existing = tmp_path / "full"
    existing.mkdir()
    (existing / "x").write_text("1")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        refuse_existing_output(existing, overwrite=False)
    refuse_existing_output(existing, overwrite=True)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file.txt"):
        refuse_existing_output(blocker / "a" / "out")


# -- owners of temporary folders: a killed run's leftovers go, a live writer's stay ---------
TWO_DAYS = 2 * 24 * 3600


def _leftover(parent: Path, name: str) -> Path:
    """A temporary folder with a file in it, as a writer leaves it."""
    folder = parent / name
    folder.mkdir()
    (folder / "half.png").write_bytes(b"half")
    return folder


def _age(folder: Path, seconds: float) -> None:
    for path in [*folder.rglob("*"), folder]:
        t = path.stat().st_mtime - seconds
        os.utime(path, (t, t))


@pytest.fixture
def live_child():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_owner() -> str:
    """The owner tag of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = temp_owner(proc.pid)
    proc.kill()
    proc.wait()
    return owner


def test_temporary_folder_names_their_owner(tmp_path: Path) -> None:
    with atomic_output_dir(tmp_path / "out") as tmp:
        host, pid, start, unique = tmp.name.removeprefix(".out.tmp-").split("-")
        assert (host, int(pid)) == (host_tag(), os.getpid())
        assert int(start) > 0 and start == temp_owner().split("-")[2], "the process's start time"
        assert len(unique) == 8
    with atomic_output_dir(tmp_path / "out") as again:
        assert again.name != tmp.name, "unique per folder, not only per process"


def test_dead_owners_folder_removed_live_ones_kept(tmp_path: Path, live_child, dead_owner) -> None:
    dead = _leftover(tmp_path, f".out.tmp-{dead_owner}-abcdefgh")
    dead_old = _leftover(tmp_path, f".out.old-{dead_owner}-abcdefgh")
    mine = _leftover(tmp_path, f".out.tmp-{temp_owner()}-abcdefgh")
    child = _leftover(tmp_path, f".out.tmp-{temp_owner(live_child.pid)}-abcdefgh")
    _age(child, TWO_DAYS)  # age does not matter on this host: the owner runs
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "x").write_text("1")
        assert not dead.exists() and not dead_old.exists(), "a killed writer's leftovers go first"
    assert mine.is_dir() and (mine / "half.png").exists(), "this live process's folder is kept"
    assert child.is_dir(), "another live process's folder is kept"
    assert (tmp_path / "out" / "x").read_text() == "1"


def test_reused_pid_and_zombie_count_as_dead(tmp_path: Path, live_child) -> None:
    pid, start = live_child.pid, int(temp_owner(live_child.pid).split("-")[2])
    reused = _leftover(tmp_path, f".out.tmp-{host_tag()}-{pid}-{start + 1}-abcdefgh")
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    zombie_tag = temp_owner(zombie.pid)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)  # exited, not reaped: os.kill(pid, 0) still succeeds on it
    zombie_folder = _leftover(tmp_path, f".out.tmp-{zombie_tag}-abcdefgh")
    assert remove_stale_temporaries(tmp_path, "out") == sorted([reused, zombie_folder])
    zombie.wait()


def test_another_hosts_folder_kept_until_clearly_stale(tmp_path: Path) -> None:
    other = _leftover(tmp_path, ".out.tmp-otherhost-1-1-abcdefgh")
    legacy = _leftover(tmp_path, ".out.tmp-k3j9x0_q")  # older versions: no owner in the name
    assert remove_stale_temporaries(tmp_path, "out") == []
    _age(other, 23 * 3600)
    assert remove_stale_temporaries(tmp_path, "out") == [], "a day is the bar"
    (other / "new.png").write_bytes(b"x")  # still being written: its newest file counts
    _age(other, TWO_DAYS)
    (other / "fresh.png").write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path, "out") == []
    _age(other, TWO_DAYS)
    _age(legacy, TWO_DAYS)
    assert remove_stale_temporaries(tmp_path, "out") == sorted([legacy, other])


def test_sweep_by_name_and_put_back_a_moved_previous_output(tmp_path: Path, dead_owner) -> None:
    other_name = _leftover(tmp_path, f".other.tmp-{dead_owner}-abcdefgh")
    moved = tmp_path / f".out.old-{dead_owner}-abcdefgh"
    (moved / "previous").mkdir(parents=True)  # killed between commit_output_dir's two renames
    (moved / "previous" / "run.json").write_text("{}")
    user = _leftover(tmp_path, ".notes.tmp-mine")  # not one of ours: never touched
    _age(user, TWO_DAYS)
    assert remove_stale_temporaries(tmp_path, "out") == [moved]
    assert (tmp_path / "out" / "run.json").read_text() == "{}", "the previous output is back"
    assert other_name.is_dir(), "another output's leftovers are not this output's business"
    assert remove_stale_temporaries(tmp_path) == [other_name]
    assert user.is_dir()
