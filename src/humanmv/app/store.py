"""Job folders on disk: where each job writes its outputs and zip, and when they go.

    root/jobs/<job id>/out/         everything `humanmv generate` writes (Studio.save)
    root/jobs/<job id>/<name>.zip   that folder zipped, for the download
    root/jobs/<job id>/viewer/      copies of avatar.glb with another clip first (`clips`)

A session (one open page) keeps only its latest finished job: a new one replaces it, and it is
removed when the session ends (the page is closed or reloaded). At most `keep` finished jobs are
on disk in all, the oldest removed first, so disk use stays bounded whatever the sessions do; a
job that fails is removed at once. `close` removes every job folder.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path


class JobStore:
    """Thread-safe owner of `root/jobs/`. keep: finished job folders kept in all."""

    def __init__(self, root: Path, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.folder = Path(root) / "jobs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()
        self._finished: OrderedDict[str, str] = OrderedDict()  # job id -> session, oldest first
        self._latest: dict[str, str] = {}  # session -> its job id

    def new(self) -> Path:
        """A new, empty job folder."""
        job = self.folder / uuid.uuid4().hex
        job.mkdir()
        return job

    def finish(self, job: Path, session: str) -> None:
        """`job` is `session`'s latest result: its previous one goes, and the oldest jobs
        beyond `keep`."""
        gone: list[str] = []
        with self._lock:
            previous = self._latest.get(session)
            if previous is not None and previous != job.name:
                self._finished.pop(previous, None)
                gone.append(previous)
            self._latest[session] = job.name
            self._finished[job.name] = session
            while len(self._finished) > self.keep:
                oldest, owner = self._finished.popitem(last=False)
                if self._latest.get(owner) == oldest:
                    del self._latest[owner]
                gone.append(oldest)
        for name in gone:
            self._remove(name)

    def discard(self, job: Path) -> None:
        """Remove a job that did not finish."""
        self._remove(job.name)

    def end_session(self, session: str) -> None:
        """Remove the session's job (the page was closed)."""
        with self._lock:
            name = self._latest.pop(session, None)
            if name is not None:
                self._finished.pop(name, None)
        if name is not None:
            self._remove(name)

    def job_of(self, session: str) -> Path | None:
        """The session's latest finished job folder, if it is still on disk."""
        with self._lock:
            name = self._latest.get(session)
        return None if name is None else self.folder / name

    def jobs_on_disk(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_dir()) if self.folder.exists() else []

    def close(self) -> None:
        """Remove every job folder (the server stops)."""
        with self._lock:
            self._finished.clear()
            self._latest.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _remove(self, name: str) -> None:
        shutil.rmtree(self.folder / name, ignore_errors=True)
