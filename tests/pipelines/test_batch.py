"""Batch runs (`humanmv generate DIR|LIST.txt`): names, failures that do not stop the batch,
summary.json, resume after SIGKILL (finished photos kept, stale temporary folders removed) and
the same outputs from 2 processes under `accelerate launch` as from 1.

One batch is killed and resumed once for the whole module (the fit takes seconds a photo):
photos a, b (good: a body photo and its mirror image; body fits are the fast ones),
bad_text.jpg (a text file) and blank.png (one colour, no person)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from humanmv.errors import ConfigError, NoPersonError
from humanmv.generators import GeneratorChoice
from humanmv.io.atomic import host_tag
from humanmv.pipelines.batch import (
    EXIT_SOME_FAILED,
    GenerateSettings,
    list_photos,
    output_names,
    run_batch,
)

TINY = ["--views", "4", "--size", "128", "--texture-size", "256"]
GOOD = ["a", "b"]
BAD = {"bad_text": ("InputImageError", "is not an image"), "blank": ("NoPersonError", "no person found")}
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "humanmv", "generate", *args, *TINY, "--quiet"]


def _env() -> dict:
    # One torch thread, as accelerate gives each of its processes: on a busy 2-core machine
    # two threads a process wait on each other far longer than they gain.
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")


def _temporaries(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# -- names and inputs (no models) -------------------------------------------------------------
def test_folder_and_list_inputs(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("b.PNG", "a.jpg", ".hidden.jpg", "notes.txt", "sub/c.jpg"):
        (photos / name).write_bytes(b"x")
    assert [p.name for p in list_photos(photos)] == ["a.jpg", "b.PNG"], "photos by suffix, sorted; no hidden, no sub-folders"
    lists = tmp_path / "lists"
    lists.mkdir()
    listing = lists / "batch.txt"
    listing.write_text(f"# my photos\n\n../photos/b.PNG\n  ../photos/sub/c.jpg  \n{photos / 'a.jpg'}\n# end\n")
    assert list_photos(listing) == [photos / "b.PNG", photos / "sub" / "c.jpg", photos / "a.jpg"], \
        "list order, paths relative to the list's folder"
    assert all(p.is_absolute() for p in list_photos(listing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no photos"):
        list_photos(empty)
    (lists / "none.txt").write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="names no photos"):
        list_photos(lists / "none.txt")


def test_name_clashes_resolved_in_input_order() -> None:
    paths = [Path(p) for p in ("x/a.jpg", "y/a.jpg", "a.png", "A.jpg", "a-2.jpg", "summary.json.png",
                               "batch.log.jpg", ".hidden.png", "b.jpg")]
    assert output_names(paths) == ["a", "a-2", "a-3", "A-4", "a-2-2", "summary.json-2", "batch.log-2",
                                   "hidden", "b"]
    assert output_names(paths) == output_names(list(paths)), "deterministic"


class _BrokenStudio:
    """A stand-in Studio whose generation fails: a bug on astronaut, no person on the other."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def load(self, choice) -> None:
        pass

    def generate(self, photo, choice, **kwargs):
        self.calls.append(photo.path.name)
        if photo.path.name == "astronaut.jpg":
            raise ZeroDivisionError("a bug in a stage")
        raise NoPersonError(f"no person found in {photo.path.name}: use a photo where one person is clearly visible")


def test_an_unexpected_exception_fails_one_photo_with_its_traceback(tmp_path: Path, examples_dir: Path) -> None:
    listing = tmp_path / "list.txt"
    taken = tmp_path / "out" / "taken"
    taken.mkdir(parents=True)
    (taken / "run.json").write_text(json.dumps({"image": "/elsewhere/taken.jpg"}))
    (tmp_path / "taken.jpg").write_bytes((examples_dir / "astronaut.jpg").read_bytes())
    listing.write_text(f"{examples_dir / 'astronaut.jpg'}\n{examples_dir / 'grace_hopper.jpg'}\ntaken.jpg\nmissing.jpg\n")
    studio = _BrokenStudio()
    report = run_batch(listing, tmp_path / "out", GenerateSettings(GeneratorChoice.make("prior")), studio,
                       quiet=True)
    assert studio.calls == ["astronaut.jpg", "grace_hopper.jpg"], "the batch goes on after a bug; taken/ is not redone"
    assert report.exit_code == EXIT_SOME_FAILED
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"] == {"ok": 0, "skipped": 0, "failed": 4, "total": 4}
    bug, no_person, taken_record, missing = summary["photos"]
    assert bug["error"] == "ZeroDivisionError" and "a bug in a stage" in bug["reason"] and "batch.log" in bug["reason"]
    assert no_person["error"] == "NoPersonError" and no_person["reason"].startswith("no person found")
    assert taken_record["error"] == "OutputError" and "holds the output of /elsewhere/taken.jpg" in taken_record["reason"]
    assert missing["error"] == "InputImageError" and missing["reason"] == f"{tmp_path / 'missing.jpg'}: file not found"
    assert all(r["output"] is None and r["status"] == "failed" for r in summary["photos"])
    logged = (tmp_path / "out" / "batch.log").read_text()
    assert "Traceback (most recent call last)" in logged and "ZeroDivisionError: a bug in a stage" in logged
    assert "in generate" in logged, "the traceback names the frame that raised"
    assert logged.count("Traceback") == 1, "a HumanMVError is one line, no traceback"
    assert not (tmp_path / "out" / ".batch").exists(), "shard files are merged and removed"


class _RecordingStudio:
    """A stand-in Studio that writes a minimal output folder and records what save was told."""

    def __init__(self) -> None:
        self.saved: list[dict] = []

    def load(self, choice) -> None:
        pass

    def generate(self, photo, choice, **kwargs):
        return photo.path

    def save(self, result, folder, overwrite=False, run_info=None, **options):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "run.json").write_text(json.dumps(run_info))
        self.saved.append(options)


def test_save_options_reach_every_photo_and_the_summary(tmp_path: Path, examples_dir: Path) -> None:
    """`generate DIR --no-rig` is `save_options={"rig": False}`: every photo's Studio.save gets it
    and summary.json's settings record it."""
    listing = tmp_path / "list.txt"
    listing.write_text(f"{examples_dir / 'astronaut.jpg'}\n{examples_dir / 'grace_hopper.jpg'}\n")
    studio = _RecordingStudio()
    settings = GenerateSettings(GeneratorChoice.make("prior"), save_options={"rig": False})
    report = run_batch(listing, tmp_path / "out", settings, studio, quiet=True)
    assert report.exit_code == 0 and studio.saved == [{"rig": False}, {"rig": False}]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["settings"]["rig"] is False and summary["counts"]["ok"] == 2


# -- one real batch, killed with SIGKILL half way, then resumed -------------------------------
@pytest.fixture(scope="module")
def photos(tmp_path_factory, examples_dir) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    (folder / "a.jpg").write_bytes((examples_dir / "astronaut.jpg").read_bytes())
    ImageOps.mirror(Image.open(examples_dir / "astronaut.jpg")).save(folder / "b.jpg", quality=95)
    (folder / "bad_text.jpg").write_text("this is not a photo\n")
    Image.new("RGB", (256, 256), (90, 140, 200)).save(folder / "blank.png")
    return folder


@pytest.fixture(scope="module")
def killed(photos, tmp_path_factory) -> dict:
    """The batch killed while b's output is being written (a done, b's temporary folder there)."""
    out = tmp_path_factory.mktemp("batch") / "out"
    proc = subprocess.Popen(_cli(str(photos), "--out", str(out)), env=_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not ((out / "a" / "run.json").exists() and out.is_dir() and any(out.glob(".b.tmp-*"))):
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "b's output was never being written"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return {"out": out, "pid": proc.pid, "returncode": proc.returncode, "left": _temporaries(out), "b_exists": (out / "b").exists(),
            "a_mtime": (out / "a" / "run.json").stat().st_mtime_ns, "a_run": (out / "a" / "run.json").read_text()}


@pytest.fixture(scope="module")
def resumed(killed, photos) -> dict:
    out = killed["out"]
    done = subprocess.run(_cli(str(photos), "--out", str(out)), env=_env(), capture_output=True, text=True, timeout=600)
    return {"code": done.returncode, "stderr": done.stderr, "summary": json.loads((out / "summary.json").read_text())}


def test_the_killed_run_left_a_temporary_folder_and_no_half_output(killed) -> None:
    assert killed["returncode"] == -signal.SIGKILL
    assert not killed["b_exists"], "b/ only appears when complete"
    owned = [n for n in killed["left"] if n.startswith(".b.tmp-")]
    assert len(owned) == 1 and owned[0].startswith(f".b.tmp-{host_tag()}-{killed['pid']}-"), "named after its owner"


def test_the_rerun_finishes_the_rest_only(killed, resumed) -> None:
    out = killed["out"]
    assert resumed["code"] == EXIT_SOME_FAILED, resumed["stderr"][-2000:]
    records = {r["name"]: r for r in resumed["summary"]["photos"]}
    assert records["a"]["status"] == "skipped" and records["a"]["output"] == str(out / "a")
    assert records["b"]["status"] == "ok" and records["b"]["seconds"] > 0
    assert (out / "a" / "run.json").stat().st_mtime_ns == killed["a_mtime"], "a is not redone"
    assert (out / "a" / "run.json").read_text() == killed["a_run"]
    for name in GOOD:
        run = json.loads((out / name / "run.json").read_text())
        assert run["image"] == str(Path(records[name]["photo"])) and run["views"] == 4
        assert sorted(p.name for p in (out / name / "views").iterdir()) == [f"{i:03d}.png" for i in range(4)]
        assert Image.open(out / name / "views" / "000.png").size == (128, 128)


def test_the_rerun_removed_the_stale_temporary_folders(killed, resumed) -> None:
    assert killed["left"], "the kill left something to clean up"
    assert _temporaries(killed["out"]) == []
    assert not (killed["out"] / ".batch").exists()


def test_bad_photos_are_named_with_their_reasons(killed, resumed, photos) -> None:
    summary = resumed["summary"]
    assert summary["counts"] == {"ok": 1, "skipped": 1, "failed": 2, "total": 4}
    assert summary["exit_code"] == EXIT_SOME_FAILED and summary["processes"] == 1
    assert [r["name"] for r in summary["photos"]] == ["a", "b", "bad_text", "blank"], "input order"
    failed = {r["name"]: r for r in summary["photos"] if r["status"] == "failed"}
    assert set(failed) == set(BAD)
    for name, (error, reason) in BAD.items():
        assert failed[name]["error"] == error and reason in failed[name]["reason"]
        assert failed[name]["photo"] == str(next(photos.glob(f"{name}.*"))) and failed[name]["output"] is None
        assert not (killed["out"] / name).exists()
    assert summary["settings"]["views"] == 4 and summary["settings"]["generator"] == "prior"
    logged = (killed["out"] / "batch.log").read_text()
    assert "bad_text.jpg: failed (InputImageError)" in logged and "blank.png: failed (NoPersonError)" in logged


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_write_the_same_outputs(killed, resumed, photos, tmp_path) -> None:
    out = tmp_path / "two"
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           *_cli(str(photos), "--out", str(out))[1:]]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode != 0, "a photo failed: the launcher reports process 0's exit code 3 as a failure"
    assert "exitcode  : 3" in done.stderr, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    one = resumed["summary"]
    assert summary["processes"] == 2
    assert [(r["name"], r["status"] if r["status"] != "skipped" else "ok") for r in one["photos"]] == \
        [(r["name"], r["status"]) for r in summary["photos"]]
    assert [r["process"] for r in summary["photos"]] == [0, 1, 0, 1], "photo i on process i % 2"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in killed["out"].iterdir())
    for name in GOOD:
        for file in ("avatar.json", "cameras.json", "views/000.png", "views/002.png", "normals/001.png"):
            assert (out / name / file).read_bytes() == (killed["out"] / name / file).read_bytes(), f"{name}/{file}"
