"""`python -m humanmv`, batch input errors, and `humanmv synth` sharded over 2 processes by
`accelerate launch` (the same files as one process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), CUDA_VISIBLE_DEVICES="")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _main(args: list[str], capsys) -> tuple[int, str]:
    from humanmv.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    return done.value.code, capsys.readouterr().err.strip()


def test_python_dash_m_humanmv() -> None:
    done = subprocess.run([sys.executable, "-m", "humanmv", "--help"], env=_env(), capture_output=True, text=True)
    assert done.returncode == 0 and "generate" in done.stdout and "synth" in done.stdout


def test_batch_input_errors_are_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _main(["generate", str(empty), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "\n" not in err and "no photos" in err and str(empty) in err
    listing = tmp_path / "list.txt"
    listing.write_text("# only a comment\n")
    code, err = _main(["generate", str(listing), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "\n" not in err and "names no photos" in err
    code, err = _main(["generate", str(tmp_path / "absent.txt"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "\n" not in err and "cannot read the photo list" in err
    (empty / "a.jpg").write_bytes(b"checked later")
    code, err = _main(["generate", str(empty), "--out", str(tmp_path / "o"), "--views", "0"], capsys)
    assert code == 2 and "--views" in err, "the options are checked as for one photo"
    assert not (tmp_path / "o").exists(), "nothing written"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_two_processes_write_the_same_files(tmp_path: Path) -> None:
    args = ["synth", "--preset", "head-bench", "--subjects", "3", "--seed", "5"]
    one = subprocess.run([sys.executable, "-m", "humanmv", *args, "--quiet", "--out", str(tmp_path / "one")],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    accelerate = Path(sys.executable).parent / "accelerate"
    two = subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                          str(_free_port()), "-m", "humanmv", *args, "--out", str(tmp_path / "two")],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    reports = [line for line in two.stdout.splitlines() if "subjects written" in line]
    assert reports == [f"3 subjects written, 0 already there -> {tmp_path / 'two'}"], "process 0 alone reports, for all"
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(a) == sorted(b) and "manifest.json" in a and len(a) > 3 * 16
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]][:5]
