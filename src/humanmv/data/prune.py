"""Pruning a synthetic multi-view dataset (Gen3D-Face's data pruning), with dlib.

    report = prune_dataset("subjects", tau=0.7)   # or dry_run=True to only see what would go

Two filters over the subject folders under a root (the format of `humanmv.data.format`):

- Janus views (`janus_filter`): a face found by dlib's HOG detector (score >= `min_score`) on a
  view whose camera looks at the subject's back (|az| > 120 deg) means a two-faced generation.
  Those views are dropped from the subject.
- Identity consistency (`identity_consistency`): dlib's 128-D embeddings of the faces on the
  front-half views (|az| <= 90 deg), scored by their mean pairwise cosine similarity. Only the
  top `tau` share of the scored subjects is kept (round(tau * n), at least 1). Subjects with
  fewer than 2 face views get no score and are kept; the report says so.

az comes from `cameras.json`; where it is null it is computed from the camera position
(atan2(x, z) about the world Y axis, docs/architecture.md's orbit convention: 0 front, 180 back).

Nothing is ever deleted; everything removed is moved under `ROOT/_pruned/<subject>/`:
- `janus/` (or `janus-2/`, ... on later runs): the dropped views' files (`<layer>/<view>.*`),
  their `cameras.json` and the subject's `meta.json`, itself a readable subject folder. The
  subject's own `cameras.json` is rewritten without them (atomically) before their files move,
  so the subject stays readable at every moment.
- `identity/`: a whole subject dropped for low identity consistency (renamed in one step).
Every removal and its reason is in the returned `PruneReport` and in `ROOT/prune_report.json`
(earlier runs' reports are kept in it under "previous_runs"). A dry run moves and writes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from humanmv.cameras import Cameras
from humanmv.data.prune_checks import (BACK_AZ_DEG, FRONT_AZ_DEG, JANUS_MIN_SCORE, IdentityScore, JanusCheck,
                                       JanusView, identifier_or_default, identity_consistency, janus_filter,
                                       view_azimuths)
from humanmv.errors import ConfigError, HumanMVError, OutputError
from humanmv.io.atomic import atomic_write_text

LOG = logging.getLogger("humanmv")

PRUNED_DIR = "_pruned"
REPORT_FILE = "prune_report.json"

__all__ = ["BACK_AZ_DEG", "FRONT_AZ_DEG", "JANUS_MIN_SCORE", "IdentityScore", "JanusCheck", "JanusView", "PruneReport",
           "Removal", "find_subjects", "identity_consistency", "janus_filter", "kept_count", "prune_dataset",
           "view_azimuths"]


# ---- the dataset pass ---------------------------------------------------------------------
@dataclass
class Removal:
    """One removal: a view (view set) or a whole subject (view None), why, and where it went
    (relative to the root; where it would go in a dry run)."""

    subject: str
    view: str | None
    reason: str
    moved_to: str


@dataclass
class PruneReport:
    """What `prune_dataset` did (or would do, when dry_run)."""

    root: str
    tau: float
    dry_run: bool
    subjects: int = 0
    kept: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    unscored: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def janus_views(self) -> int:
        return sum(1 for r in self.removals if r.view is not None)

    def to_json(self) -> dict:
        data = asdict(self)
        data["janus_views"] = self.janus_views
        return data

    def summary(self) -> str:
        verb = "would drop" if self.dry_run else "dropped"
        return (f"{self.subjects} subjects: {verb} {self.janus_views} janus views and "
                f"{len(self.pruned)} subjects for identity (tau {self.tau}); kept {len(self.kept)}, "
                f"{len(self.unscored)} of them unscored; {len(self.errors)} unreadable")


def find_subjects(root: str | os.PathLike[str]) -> list[str]:
    """Subject folders (holding cameras.json) under `root`, as sorted relative POSIX paths.
    Hidden folders and `_pruned/` are skipped; a subject's own subfolders are not searched."""
    root = Path(root)
    found = []
    for folder, dirs, files in os.walk(root):
        if "cameras.json" in files and Path(folder) != root:
            found.append(Path(folder).relative_to(root).as_posix())
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != PRUNED_DIR)
    return sorted(found)


def _unique(path: Path) -> Path:
    candidate, k = path, 2
    while candidate.exists() or candidate.is_symlink():
        candidate, k = path.with_name(f"{path.name}-{k}"), k + 1
    return candidate


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _planned(root: Path, subject: str, kind: str) -> Path:
    return _unique(root / PRUNED_DIR / subject / kind)


def _move_views(root: Path, subject: str, views: list[str], reason_by_view: dict[str, str]) -> Path:
    """Move the files of `views` out of the subject into `_pruned/<subject>/janus*/` and
    rewrite its cameras.json without them. Returns the destination folder."""
    folder = root / subject
    dest = _planned(root, subject, "janus")
    cams_json = json.loads((folder / "cameras.json").read_text())
    gone = set(views)
    removed = [v for v in cams_json if str(v.get("name")) in gone]
    kept = [v for v in cams_json if str(v.get("name")) not in gone]
    try:
        dest.mkdir(parents=True)
        atomic_write_text(dest / "cameras.json", json.dumps(removed, indent=1))
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        meta = meta if isinstance(meta, dict) else {"meta": meta}
        meta["pruned"] = {"from": subject, "views": reason_by_view}
        atomic_write_text(dest / "meta.json", json.dumps(meta, indent=1))
        # The subject stays readable throughout: its cameras.json drops the views first.
        atomic_write_text(folder / "cameras.json", json.dumps(kept, indent=1))
        for layer in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for file in sorted(layer.iterdir()):
                if file.is_file() and file.stem in gone:  # <layer>/<view>.png, .npy, ...
                    (dest / layer.name).mkdir(exist_ok=True)
                    os.rename(file, _unique(dest / layer.name / file.name))
    except OSError as exc:
        raise OutputError(f"{folder}: cannot move views into {dest} ({exc.strerror or exc}); "
                          "check the dataset folder is writable") from exc
    return dest


def _move_subject(root: Path, subject: str, kind: str) -> Path:
    dest = _planned(root, subject, kind)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(root / subject, dest)
    except OSError as exc:
        raise OutputError(f"{root / subject}: cannot move it into {dest} ({exc.strerror or exc}); "
                          "check the dataset folder is writable") from exc
    return dest


def kept_count(n: int, tau: float) -> int:
    """How many of `n` scored subjects the top-`tau` cut keeps: round(tau * n), at least 1."""
    return 0 if n == 0 else max(1, min(n, math.floor(tau * n + 0.5)))


def prune_dataset(root: str | os.PathLike[str], tau: float = 0.7, identifier=None,
                  dry_run: bool = False, min_score: float = JANUS_MIN_SCORE) -> PruneReport:
    """Drop janus views and the least identity-consistent subjects from a dataset (moves only).

    Args:
        root: folder whose subfolders (at any depth) are subject folders.
        tau: share of the scored subjects to keep, in (0, 1] (Gen3D-Face keeps 0.7).
        identifier: a `FaceIdentifier` to reuse (one is made if None).
        dry_run: report what would be removed; move and write nothing.
        min_score: HOG score from which a face on a back view counts.
    Returns:
        PruneReport listing every removal with its reason (also written to
        `root/prune_report.json` unless dry_run).
    Raises:
        ConfigError: tau outside (0, 1], root missing, a subject itself, or without subjects.
        OutputError: a move failed; the removals done so far are in `prune_report.json` and
            nothing is lost (every file is in place or under `_pruned/`).
    """
    start = time.perf_counter()
    if not (isinstance(tau, (int, float)) and 0 < tau <= 1):
        raise ConfigError(f"--tau must be within (0, 1] (the share of subjects kept), got {tau!r}")
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: dataset folder not found" if not root.exists() else
                          f"{root}: is not a folder; pass the folder that holds the subjects")
    if (root / "cameras.json").is_file():
        raise ConfigError(f"{root}: is a single subject; pass the folder that holds the subjects")
    subjects = find_subjects(root)
    if not subjects:
        raise ConfigError(f"{root}: no subject folders (with cameras.json) found")
    identifier = identifier_or_default(identifier)
    report = PruneReport(root=str(root), tau=float(tau), dry_run=dry_run, subjects=len(subjects))
    try:
        _prune(root, subjects, tau, identifier, dry_run, min_score, report)
    except OutputError as exc:  # a move failed: record what was done so far, then stop
        report.errors.append({"subject": None, "reason": f"stopped: {exc}"})
        if not dry_run:
            _write_report(root, report)
        raise
    report.kept.sort()
    report.seconds = round(time.perf_counter() - start, 3)
    if not dry_run:
        _write_report(root, report)
    return report


def _prune(root: Path, subjects: list[str], tau: float, identifier, dry_run: bool,
           min_score: float, report: PruneReport) -> None:
    remaining: dict[str, list[str]] = {}  # subject -> janus views left out of its identity score
    for subject in subjects:
        try:
            check = janus_filter(root / subject, identifier, min_score=min_score)
            n_views = len(Cameras.load(root / subject / "cameras.json"))
        except HumanMVError as exc:
            LOG.warning("%s: skipped: %s", subject, exc)
            report.errors.append({"subject": subject, "reason": str(exc)})
            continue
        if not check.flagged:
            remaining[subject] = []
            continue
        reasons = {f.view: (f"janus: a face (HOG score {f.score:.2f}) on a back view "
                            f"(az {f.az:g} deg)") for f in check.flagged}
        names = [f.view for f in check.flagged]
        if len(names) == n_views:  # nothing would be left: the whole subject goes
            dest = _planned(root, subject, "janus") if dry_run else _move_subject(root, subject, "janus")
            report.removals.append(Removal(subject, None, f"janus: faces on all {n_views} views, "
                                           "all of them back views", _rel(dest, root)))
            report.pruned.append(subject)
            continue
        dest = _planned(root, subject, "janus") if dry_run else _move_views(root, subject, names, reasons)
        for name in names:
            report.removals.append(Removal(subject, name, reasons[name], _rel(dest, root)))
        remaining[subject] = names

    scored: list[tuple[float, str, int]] = []
    for subject, janus in remaining.items():
        try:
            identity = identity_consistency(root / subject, identifier, exclude=janus,
                                            min_score=min_score)
        except HumanMVError as exc:
            LOG.warning("%s: no identity score: %s", subject, exc)
            report.errors.append({"subject": subject, "reason": str(exc)})
            continue
        report.scores[subject] = identity.score
        if identity.score is None:
            report.unscored.append({"subject": subject, "reason": identity.note})
            report.kept.append(subject)
        else:
            scored.append((identity.score, subject, len(identity.face_views)))

    scored.sort(key=lambda s: (-s[0], s[1]))
    keep = kept_count(len(scored), tau)
    cut = scored[keep - 1][0] if scored else None
    for rank, (score, subject, n_faces) in enumerate(scored, start=1):
        if rank <= keep:
            report.kept.append(subject)
            continue
        reason = (f"identity: consistency {score:.4f} (mean pairwise cosine similarity of "
                  f"{n_faces} face views) ranks {rank} of {len(scored)}; tau {tau:g} keeps the top "
                  f"{keep} (lowest kept {cut:.4f})")
        dest = _planned(root, subject, "identity") if dry_run else _move_subject(root, subject, "identity")
        report.removals.append(Removal(subject, None, reason, _rel(dest, root)))
        report.pruned.append(subject)


def _write_report(root: Path, report: PruneReport) -> None:
    path = root / REPORT_FILE
    data = report.to_json()
    previous: list = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            if isinstance(old, dict):
                previous = list(old.pop("previous_runs", []) or []) + [old]
        except (OSError, ValueError):
            aside = _unique(root / "prune_report.unreadable.json")
            os.rename(path, aside)
            LOG.warning("%s: unreadable; moved to %s", path, aside.name)
    data["previous_runs"] = previous
    atomic_write_text(path, json.dumps(data, indent=1))
