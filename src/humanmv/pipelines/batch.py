"""`humanmv generate PHOTOS_DIR|LIST.txt --out DIR`: many photos, one set of loaded models.

Input: a folder not named like a photo (its files with a `PHOTO_SUFFIXES` suffix, sorted by
name; hidden files and sub-folders skipped) or a `.txt` list (one photo path per line, relative
to the list's folder; blank lines and lines starting with `#` skipped), in that input order.

Output, per photo: `DIR/<name>/`, exactly what `humanmv generate PHOTO --out DIR/<name>` writes
(its run.json's "image" is the photo's absolute path). `<name>` is the photo's file name without
its suffix; a name already given to an earlier photo in input order (same stem: `a.jpg` and
`a.png`, or two folders of a list; compared case-folded, for case-insensitive file systems),
or one of the batch's own files (summary.json, batch.log), gets `-2`, `-3`, ... (the first
free); a leading dot is dropped. Same input, same names, so a re-run finds its folders.

Resume: an output folder only appears when complete (io.atomic), so a photo whose `DIR/<name>/`
holds a run.json naming this photo is skipped, whatever settings made it (`--overwrite` redoes
every photo). A `DIR/<name>/` that holds something else fails that photo with the reason. Each
process first removes the stale temporary folders killed runs left in DIR
(`io.atomic.remove_stale_temporaries`: only those whose process is gone).

Failures: one photo's failure (unreadable file, no person, any HumanMVError, or an unexpected
exception, whose traceback goes to DIR/batch.log) is recorded and the batch goes on. Errors
about the whole batch (bad options, a broken checkpoint, an unwritable DIR) stop it.

DIR/summary.json (written atomically at the end): `format` "humanmv.batch", `version`, `source`,
`out`, `processes`, `settings` (the generator choice and view settings), `counts` (ok, skipped,
failed, total), `exit_code`, `seconds`, and `photos` in input order, each with `photo`
(absolute path), `name`, `status` (ok | skipped | failed), `reason` (one line; null when ok),
`error` (the error's class name; null unless failed), `seconds`, `output` (the folder; null
when failed) and `process`. Exit code (`BatchReport.exit_code`): 0 when every photo is ok or
skipped, `EXIT_SOME_FAILED` (3) when one failed.

Processes (`humanmv.shards`): under `accelerate launch`, process i does photos i, i + N, ...,
writes its records to DIR/.batch/shard-<i>-of-<N>.json after every photo, and process 0, when
every shard file says done, merges them into summary.json. Each photo's result depends only on
the photo and the settings, so N processes write the same set of folders as one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from humanmv.errors import ConfigError, HumanMVError, OutputError
from humanmv.io.atomic import atomic_write_text, remove_stale_temporaries
from humanmv.shards import Shard, current_shard

log = logging.getLogger("humanmv")

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SUMMARY = "summary.json"
LOG_FILE = "batch.log"
SHARDS = ".batch"
RESERVED = frozenset({SUMMARY, LOG_FILE})
EXIT_OK = 0  # every photo ok or skipped
EXIT_SOME_FAILED = 3  # the batch ran to its end, but at least one photo failed (see summary.json)


def is_batch_source(path: Path) -> bool:
    """Whether `humanmv generate PATH` means a batch: a .txt list, or a folder not named like a
    photo (`x.jpg/` stays a photo path, refused as a folder, as it always was)."""
    suffix = Path(path).suffix.lower()
    return suffix == ".txt" or (Path(path).is_dir() and suffix not in PHOTO_SUFFIXES)


@dataclass(frozen=True)
class BatchPhoto:
    """position: 0-based, in input order. path: absolute. name: its output folder's name."""

    position: int
    path: Path
    name: str


@dataclass
class PhotoRecord:
    """One photo's outcome, as summary.json lists it."""

    photo: str
    name: str
    status: str  # ok | skipped | failed
    reason: str | None
    error: str | None
    seconds: float
    output: str | None
    process: int


@dataclass
class GenerateSettings:
    """Everything `humanmv generate` takes besides the photo and --out. choice: a
    `generators.GeneratorChoice`; cameras: custom `Cameras` or None; save_options: extra
    keyword arguments of `Studio.save`; focal_mm / K: every photo's 35-mm-equivalent focal
    length / (3, 3) intrinsics when the user gave them (`Studio.generate`)."""

    choice: Any
    mode: str = "auto"
    views: int = 16
    cameras: Any = None
    size: int | None = None
    texture_size: int = 1024
    seed: int = 0
    overwrite: bool = False
    save_options: dict[str, Any] = field(default_factory=dict)
    focal_mm: float | None = None
    K: Any = None

    def to_json(self) -> dict:
        return {**self.choice.to_json(), "mode": self.mode,
                "views": None if self.cameras is not None else self.views,
                "cameras": None if self.cameras is None else len(self.cameras), "size": self.size,
                "texture_size": self.texture_size, "seed": self.seed, "overwrite": self.overwrite,
                **self.save_options,
                "focal_mm": self.focal_mm,
                "K": None if self.K is None else [[float(v) for v in row] for row in
                                                  (self.K.tolist() if hasattr(self.K, "tolist") else self.K)]}


@dataclass
class BatchReport:
    """What a process did (`records`: its own photos; on process 0, every photo's), the
    summary.json it wrote (process 0) and its exit code: on process 0 `EXIT_SOME_FAILED` when a
    photo failed, else 0; the other processes always 0 (a launcher stops every process when
    one exits non-zero, which would cut process 0's merge short)."""

    records: list[PhotoRecord]
    shard: Shard
    seconds: float
    summary: Path | None = None

    def counts(self) -> dict[str, int]:
        found = {s: sum(r.status == s for r in self.records) for s in ("ok", "skipped", "failed")}
        return {**found, "total": len(self.records)}

    @property
    def exit_code(self) -> int:
        if not self.shard.is_main:
            return EXIT_OK
        return EXIT_SOME_FAILED if self.counts()["failed"] else EXIT_OK


# -- the photos and their names -------------------------------------------------------------
def list_photos(source: Path) -> list[Path]:
    """The photos of a folder or a .txt list, absolute, in input order (see the module)."""
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if not p.name.startswith(".")
                       and p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        if not paths:
            raise ConfigError(f"{source}/: no photos ({', '.join(PHOTO_SUFFIXES)}) in it; "
                              "give a folder of photos or a .txt list")
        return [Path(os.path.abspath(p)) for p in paths]  # '..' folded, links kept
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(f"{source}: cannot read the photo list ({reason}); give a folder of "
                          "photos or a UTF-8 .txt list, one path a line") from None
    entries = [line.strip() for line in lines]
    paths = [source.parent / e for e in entries if e and not e.startswith("#")]
    if not paths:
        raise ConfigError(f"{source}: the list names no photos; write one photo path a line")
    return [Path(os.path.abspath(p)) for p in paths]  # '..' folded, links kept


def output_names(paths: list[Path]) -> list[str]:
    """Each photo's output folder name: its stem, the first free `stem-K` (K = 2, 3, ...) when
    an earlier photo or a batch file took it."""
    taken = {r.casefold() for r in RESERVED}
    names = []
    for path in paths:
        stem = path.stem.lstrip(".") or "photo"
        name, k = stem, 2
        while name.casefold() in taken:
            name, k = f"{stem}-{k}", k + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def plan_batch(source: Path) -> list[BatchPhoto]:
    paths = list_photos(source)
    return [BatchPhoto(i, p, n) for i, (p, n) in enumerate(zip(paths, output_names(paths)))]


def output_state(folder: Path, photo: Path) -> tuple[str, str | None]:
    """("absent" | "complete" | "other", why for "other") of a photo's output folder."""
    if not (folder.exists() or folder.is_symlink()):
        return "absent", None
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        return "absent", None
    try:
        made_from = json.loads((folder / "run.json").read_text()).get("image")
    except (OSError, ValueError, AttributeError):
        return "other", f"{folder}/ exists and is not a finished output (no readable run.json); remove it or pass --overwrite"
    if made_from is not None and Path(made_from) == photo:
        return "complete", None
    return "other", f"{folder}/ holds the output of {made_from}, not of this photo; remove it or pass --overwrite"


# -- running ----------------------------------------------------------------------------------
def _shard_file(out: Path, index: int, count: int) -> Path:
    return out / SHARDS / f"shard-{index}-of-{count}.json"


def _append_log(out: Path, shard: Shard, text: str) -> None:
    """One record in DIR/batch.log, in one write (several processes append to it)."""
    stamp = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    line = f"{stamp} process {shard.index}/{shard.count} {text.rstrip()}\n"
    fd = os.open(out / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode("utf-8", "backslashreplace"))
    finally:
        os.close(fd)


def _prepare_out(out: Path, shard: Shard) -> None:
    """Create DIR, drop this process's (and, on process 0, other counts') old shard files and
    the stale temporary folders of killed runs; then wait for every process."""
    try:
        (out / SHARDS).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out}: cannot create the output folder ({err.strerror or type(err).__name__}); "
                          "choose another --out") from None
    for old in (out / SHARDS).glob("shard-*.json"):
        if old == _shard_file(out, shard.index, shard.count) or (
                shard.is_main and not old.name.endswith(f"-of-{shard.count}.json")):
            old.unlink(missing_ok=True)
    for removed in remove_stale_temporaries(out):
        log.info("removed %s (left by a killed run)", removed.name)
    shard.barrier()


def _records_of(path: Path) -> tuple[bool, list[dict]]:
    try:
        data = json.loads(path.read_text())
        return bool(data.get("done")), list(data.get("records", []))
    except (OSError, ValueError, AttributeError):
        return False, []


class _Progress:
    """The rich progress bar of process 0: every process's finished photos (read from their
    shard files) out of all photos. Nothing on the other processes or when quiet."""

    def __init__(self, out: Path, shard: Shard, total: int, quiet: bool) -> None:
        self.out, self.shard, self.total = out, shard, total
        self.bar = None
        if shard.is_main and not quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), transient=True)
            self.task = self.bar.add_task("generate", total=total)
            self.bar.start()

    def update(self, own: int, stage: str | None = None) -> None:
        if self.bar is None:
            return
        others = sum(len(_records_of(_shard_file(self.out, i, self.shard.count))[1])
                     for i in range(1, self.shard.count))
        self.bar.update(self.task, completed=own + others, description=stage or "generate")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _generate_one(studio, photo, item: BatchPhoto, out: Path, settings: GenerateSettings, stage) -> None:
    result = studio.generate(photo, settings.choice, mode=settings.mode, views=settings.views,
                             cameras=settings.cameras, size=settings.size, seed=settings.seed,
                             texture_size=settings.texture_size, focal_mm=settings.focal_mm, K=settings.K,
                             progress=stage)
    stage("writing outputs")
    studio.save(result, out / item.name, overwrite=settings.overwrite,
                run_info={"seed": settings.seed, "image": str(item.path)}, **settings.save_options)


def run_batch(source: Path, out: Path, settings: GenerateSettings, studio, *, quiet: bool = False,
              shard: Shard | None = None) -> BatchReport:
    """Generate every photo of `source` (a folder or a .txt list) into `out`/<name>/; see the
    module for names, resume, failures, summary.json and processes.

    studio: a loaded `humanmv.Studio`, or a function returning one, called for the first photo
        that needs it (so a finished batch re-runs without loading anything). Given by the
        caller: pipelines never import the Studio.
    shard: this process's share (default `current_shard()`)."""
    start = time.perf_counter()
    source, out = Path(source), Path(out)
    photos = plan_batch(source)
    shard = shard or current_shard()
    _prepare_out(out, shard)
    models = _Models(settings, studio)
    records: list[PhotoRecord] = []
    progress = _Progress(out, shard, len(photos), quiet)
    try:
        for item in shard.take(photos):
            name = item.path.name
            progress.update(len(records), name)
            records.append(_run_one(item, out, settings, shard, models,
                                    lambda stage: progress.update(len(records), f"{name}: {stage}")))
            _write_shard(out, shard, records, done=False)
        _write_shard(out, shard, records, done=True)
        if not shard.is_main:
            return BatchReport(records, shard, time.perf_counter() - start)
        shard.wait_until(lambda: all(_records_of(_shard_file(out, i, shard.count))[0]
                                     for i in range(1, shard.count)),
                         tick=lambda: progress.update(len(records), "waiting for the other processes"))
    finally:
        progress.stop()
    merged = _merge(out, shard, photos, records)
    report = BatchReport(merged, shard, time.perf_counter() - start)
    report.summary = _write_summary(source, out, settings, report)
    for i in range(shard.count):
        _shard_file(out, i, shard.count).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out / SHARDS).rmdir()
    return report


class _Models:
    """The Studio, loaded on first use (a finished batch re-runs without loading it)."""

    def __init__(self, settings: GenerateSettings, studio) -> None:
        self.settings, self.studio = settings, studio
        self.ready = False  # the studio and the choice's generator loaded

    def get(self):
        if not self.ready:
            if not hasattr(self.studio, "generate"):
                self.studio = self.studio()
            self.studio.load(self.settings.choice)  # a broken checkpoint stops the batch here
            self.ready = True
        return self.studio


def _run_one(item: BatchPhoto, out: Path, settings: GenerateSettings, shard: Shard,
             models: _Models, stage) -> PhotoRecord:
    """Skip, generate or fail one photo; raises only for what concerns the whole batch (the
    models failing to load). `seconds` leaves out loading the models."""
    from humanmv.io.images import load_image

    folder = out / item.name
    state, reason = ("absent", None) if settings.overwrite else output_state(folder, item.path)
    if state == "complete":
        return PhotoRecord(str(item.path), item.name, "skipped", "already complete (run.json names this photo)",
                           None, 0.0, str(folder), shard.index)
    t = time.perf_counter()
    error = OutputError.__name__ if state == "other" else None
    if state == "absent":
        try:
            photo = load_image(item.path)  # before the models: an unreadable file needs none
        except HumanMVError as err:
            photo, error, reason = None, type(err).__name__, str(err)
        if photo is not None:
            loading = time.perf_counter()
            studio = models.get()  # raises for the whole batch (e.g. a broken checkpoint)
            t += time.perf_counter() - loading
            try:
                _generate_one(studio, photo, item, out, settings, stage)
            except HumanMVError as err:
                error, reason = type(err).__name__, str(err)
            except Exception as err:  # a bug: this photo fails, its traceback goes to batch.log
                error, reason = type(err).__name__, f"{type(err).__name__}: {err} (traceback in {out / LOG_FILE})"
                _append_log(out, shard, f"{item.path}: failed with a traceback:\n{traceback.format_exc()}")
    seconds = round(time.perf_counter() - t, 3)
    if error is None:
        _append_log(out, shard, f"{item.path}: ok in {seconds:.1f} s -> {folder}")
        return PhotoRecord(str(item.path), item.name, "ok", None, None, seconds, str(folder), shard.index)
    reason = " ".join(str(reason).split())  # one line
    _append_log(out, shard, f"{item.path}: failed ({error}): {reason}")
    log.warning("%s: failed: %s", item.path.name, reason)
    return PhotoRecord(str(item.path), item.name, "failed", reason, error, seconds, None, shard.index)


# -- shard files and the summary ----------------------------------------------------------------
def _write_shard(out: Path, shard: Shard, records: list[PhotoRecord], done: bool) -> None:
    atomic_write_text(_shard_file(out, shard.index, shard.count), json.dumps({
        "index": shard.index, "count": shard.count, "done": done,
        "records": [dataclasses.asdict(r) for r in records]}, indent=1), fsync=False)


def _merge(out: Path, shard: Shard, photos: list[BatchPhoto], own: list[PhotoRecord]) -> list[PhotoRecord]:
    """Every photo's record in input order: process 0's own and the others' shard files."""
    found = {r.name: r for r in own}  # names are unique within a batch
    for i in range(1, shard.count):
        found.update((r["name"], PhotoRecord(**r)) for r in _records_of(_shard_file(out, i, shard.count))[1])
    merged = []
    for item in photos:
        record = found.get(item.name)
        if record is None:  # cannot happen unless a shard file was tampered with
            record = PhotoRecord(str(item.path), item.name, "failed", "no process reported on this photo",
                                 "RuntimeError", 0.0, None, item.position % shard.count)
        merged.append(record)
    return merged


def _write_summary(source: Path, out: Path, settings: GenerateSettings, report: BatchReport) -> Path:
    summary = {
        "format": "humanmv.batch", "version": 1, "source": str(source.absolute()), "out": str(out.absolute()),
        "processes": report.shard.count, "settings": settings.to_json(), "counts": report.counts(),
        "exit_code": report.exit_code, "seconds": round(report.seconds, 3), "log": LOG_FILE,
        "photos": [dataclasses.asdict(r) for r in report.records],
    }
    return atomic_write_text(out / SUMMARY, json.dumps(summary, indent=1))
