"""atomic_output_dir / atomic_write_*: outputs are complete or absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from humanmv.errors import OutputError
from humanmv.io.atomic import (
    atomic_output_dir,
    atomic_write_bytes,
    atomic_write_text,
    refuse_existing_output,
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
