"""`humanmv synth`: write N synthetic subjects of a preset into a dataset folder.

    OUT/manifest.json        preset, seed, subjects with their split (train/val/test by subject;
                             every subject of a *-bench preset is "test")
    OUT/subjects/NNNNNN/     one subject folder each (data.format), written to a temporary
                             folder and renamed when complete, so re-running skips finished
                             subjects and never sees half a subject.

Subjects are independent: with `workers` > 1 a pool of processes (started with "spawn": the
renderer's EGL context does not survive fork) each builds the body model and the renderer once
and writes whole subjects. Torch runs single-threaded in every case, so the files are the same
bytes whatever the number of workers. Several processes started by `accelerate launch` share the
subjects out by index (`synthesize(shard=)`), with the same files again.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from humanmv.data.engine import Preset, get_preset
from humanmv.data.format import write_subject
from humanmv.errors import ConfigError, OutputError
from humanmv.io.atomic import atomic_write_text
from humanmv.shards import Shard, current_shard

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def split_of(seed: int | str, index: int | str, preset: Preset | None = None) -> str:
    """The preset's fixed split, else train/val/test by a hash of (dataset seed, subject
    index or name): stable, never overlapping."""
    if preset is not None and preset.split is not None:
        return preset.split
    h = int(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if h < edge:
            return name
    return SPLITS[-1][0]


def subject_seed(seed: int, index: int) -> int:
    return seed * 1_000_000 + index


SOURCES = ("engine", "gan3d")


@dataclass(frozen=True)
class SynthSource:
    """Where a dataset's colours come from. "engine": painted textures and garment shells
    (`data.engine`); "gan3d": a 3DHumanGAN generator drawn on the engine's bodies
    (`data.gan3d_source`), from `checkpoint` (None: the shipped gan3d-small) at `truncation`."""

    name: str = "engine"
    checkpoint: str | None = None
    truncation: float = 0.7

    def check(self, preset: Preset) -> None:
        """ConfigError / CheckpointError (one line) before anything is written: an unknown
        source, a preset the source cannot draw, a bad truncation or checkpoint."""
        if self.name not in SOURCES:
            raise ConfigError(f"unknown --source {self.name!r}; choose from {', '.join(SOURCES)}")
        if self.name == "engine":
            if self.checkpoint is not None:
                raise ConfigError("--checkpoint is for --source gan3d; the engine paints its own colours")
            return
        from humanmv.data.gan3d_source import check_gan3d_preset
        from humanmv.models.gan3d import GAN3DGenerator

        check_gan3d_preset(preset)
        if not (math.isfinite(self.truncation) and 0 <= self.truncation <= 1):
            raise ConfigError(f"--truncation must be within [0, 1], got {self.truncation}")
        GAN3DGenerator.from_pretrained(self.weights)

    @property
    def weights(self) -> str:
        from humanmv.pipelines.gan3d_sampling import DEFAULT_CHECKPOINT

        return str(self.checkpoint or DEFAULT_CHECKPOINT)

    def to_manifest(self) -> dict:
        if self.name == "engine":
            return {"name": "engine"}
        return {"name": self.name, "checkpoint": self.weights, "truncation": self.truncation}


_ENGINES: dict = {}  # SynthSource -> (SubjectSampler, renderer) of this process, built on first use


def _engine(source: SynthSource = SynthSource()):
    if source not in _ENGINES:
        from humanmv.body.anny_model import AnnyBody
        from humanmv.data.engine import SubjectRenderer, SubjectSampler
        from humanmv.render import Renderer

        body = AnnyBody()
        if source.name == "gan3d":
            from humanmv.data.gan3d_source import GAN3DSubjectRenderer
            from humanmv.models.gan3d import GAN3DGenerator

            render = GAN3DSubjectRenderer(body, Renderer(), GAN3DGenerator.from_pretrained(source.weights),
                                          source.truncation, source.weights)
        else:
            render = SubjectRenderer(body, Renderer())
        _ENGINES[source] = SubjectSampler(body), render
    return _ENGINES[source]


def _init_worker(source: SynthSource) -> None:
    torch.set_num_threads(1)
    _engine(source)


def subject_job(preset_name: str, seed: int, index: int, out: Path | None,
                source: SynthSource = SynthSource()) -> int:
    """Render subject `index` of a dataset and, unless `out` is None, write it into
    out/subjects/ (temporary folder, then renamed). Returns the number of views."""
    preset = get_preset(preset_name)
    sample_subject, render = _engine(source)
    views = render(sample_subject(subject_seed(seed, index), expressions=preset.expressions,
                                  clothed=preset.clothed), preset)
    if out is not None:
        name = f"{index:06d}"
        tmp = Path(out) / "subjects" / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write_subject(tmp, views)
        os.replace(tmp, Path(out) / "subjects" / name)
    return len(views)


def run_jobs(jobs: list[tuple], workers: int = 1,
             done: Callable[[int], None] | None = None, source: SynthSource = SynthSource()) -> int:
    """Run `subject_job(*job)` for every job, in this process (workers=1) or in a pool of
    `workers` processes (each builds `source`'s renderer once); `done(views)` after each.
    Returns the total number of views."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    total = 0
    if workers == 1 or len(jobs) <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for job in jobs:
                n = subject_job(*job)
                total += n
                if done:
                    done(n)
        finally:
            torch.set_num_threads(threads)
        return total
    with ProcessPoolExecutor(min(workers, len(jobs)), multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(source,)) as pool:
        futures = [pool.submit(subject_job, *job) for job in jobs]
        try:
            for future in as_completed(futures):
                n = future.result()
                total += n
                if done:
                    done(n)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return total


def synthesize(out: Path, preset_name: str, subjects: int, seed: int = 0, workers: int = 1,
               progress: Callable[[int, int], None] | None = None, shard: Shard | None = None,
               source: SynthSource = SynthSource()) -> dict:
    """Write (or complete) the dataset; returns {"written": n, "skipped": n}.

    source: where the colours come from (`SynthSource`); checked before anything is written and
    recorded in manifest.json (a folder from another source is refused, as another preset is).

    shard: this process's share when several run the command (`accelerate launch`, see
    `humanmv.shards`; default `current_shard()`): process i renders subjects i, i + N, ...
    that are not complete yet, and process 0 writes manifest.json once every subject is there
    (a killed run leaves no manifest and resumes by subject). Every subject's bytes depend only
    on (preset, seed, index), so any number of processes writes the same files. `progress`
    (done, total) counts this process's share; on process 0 the result counts every
    process's subjects, on the others their own."""
    preset = get_preset(preset_name)
    source.check(preset)
    shard = shard or current_shard()
    out = Path(out)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        old_source = old.get("source", {"name": "engine"})
        if (old.get("preset"), old.get("seed"), old_source) != (preset.name, seed, source.to_manifest()):
            raise OutputError(f"{out}/ holds a {old.get('preset')} dataset with seed {old.get('seed')} from "
                              f"{old_source.get('name')}; choose another --out to write a different one")
    try:
        (out / "subjects").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out}: cannot create the dataset folder ({err.strerror}); choose another --out") from None
    entries = [{"name": f"{i:06d}", "split": split_of(seed, i, preset), "seed": subject_seed(seed, i)}
               for i in range(subjects)]
    todo = [i for i in range(subjects) if not _complete(out, i)]
    shard.barrier()  # every process has seen the same finished subjects before any writes one
    mine = [i for i in todo if shard.owns(i)]
    share = sum(shard.owns(i) for i in range(subjects))
    finished = share - len(mine)
    if progress:
        progress(finished, share)

    def done(_views: int) -> None:
        nonlocal finished
        finished += 1
        if progress:
            progress(finished, share)

    run_jobs([(preset.name, seed, i, out, source) for i in mine], workers, done, source)
    if not shard.is_main:
        return {"written": len(mine), "skipped": share - len(mine)}
    others = [i for i in todo if not shard.owns(i)]

    def all_there() -> bool:
        others[:] = [i for i in others if not _complete(out, i)]
        return not others

    shard.wait_until(all_there)
    atomic_write_text(manifest_path, json.dumps({
        "preset": preset.name, "seed": seed, "rig": preset.rig, "size": preset.size,
        "views_per_subject": len(preset.azimuths), "input_view": "input",
        "source": source.to_manifest(), "subjects": entries,
    }, indent=1))
    return {"written": len(todo), "skipped": subjects - len(todo)}


def _complete(out: Path, index: int) -> bool:
    return (out / "subjects" / f"{index:06d}" / "meta.json").exists()


def contact_sheet(out: Path, path: Path, subjects: int = 16, views: int = 4) -> Path:
    """A sheet of the first `subjects` subjects, `views` evenly spaced rig views each (one row
    per subject, on white), to look at what the engine makes."""
    import numpy as np

    from humanmv.data.format import read_subject
    from humanmv.io.grid import make_grid
    from humanmv.io.images import save_png

    manifest = json.loads((Path(out) / "manifest.json").read_text())
    tiles = []
    for entry in manifest["subjects"][:subjects]:
        folder = Path(out) / "subjects" / entry["name"]
        n = manifest["views_per_subject"]
        sub = read_subject(folder, layers=("rgb",), views=[round(k * n / views) for k in range(views)])
        tiles.append((sub.rgba.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    return save_png(path, make_grid(np.concatenate(tiles), cols=views * 4, pad=2))
