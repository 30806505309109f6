"""`AppConfig`: every setting of the demo page, with working defaults, checked in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from humanmv.errors import ConfigError

MAX_WORKERS = 8
MAX_QUEUE = 32
MAX_PAGE_VIEWS = 48
PAGE_SIZES = (64, 1024)


@dataclass
class AppConfig:
    """Settings of `humanmv app`.

    host / port: where the page is served (127.0.0.1: this machine only).
    workers: jobs generated at the same time (each a thread on the one shared Studio).
    queue: jobs that may wait for a worker; more than workers + queue at once get "busy".
    max_upload_mb: uploads larger than this are refused by the server before they are stored.
    workdir: where uploads, gradio's cache and the job folders live (None: a new temporary
        folder, removed when the server stops).
    keep_jobs: finished job folders kept on disk in all (each session keeps its latest; the
        oldest are removed first), so disk use is bounded.
    fit_cache_mb: memory for photo fits reused when the same photo is run again with other
        settings (0: no reuse).
    texture_size / device: as in `humanmv generate` and `Studio`.
    views / size: the page's defaults (its sliders go to MAX_PAGE_VIEWS views, PAGE_SIZES pixels).
    """

    host: str = "127.0.0.1"
    port: int = 7860
    workers: int = 1
    queue: int = 4
    max_upload_mb: int = 50
    workdir: Path | None = None
    keep_jobs: int = 16
    fit_cache_mb: int = 1024
    texture_size: int = 1024
    device: str = "cpu"
    views: int = 16
    size: int = 256

    @property
    def capacity(self) -> int:
        """Jobs the server holds at once: running plus waiting."""
        return self.workers + self.queue

    def check(self) -> "AppConfig":
        """ConfigError (one line, naming the flag) for a setting out of range; returns self."""
        from humanmv.pipelines.checks import check_view_options

        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"--workers must be within 1..{MAX_WORKERS}, got {self.workers}")
        if not 0 <= self.queue <= MAX_QUEUE:
            raise ConfigError(f"--queue must be within 0..{MAX_QUEUE}, got {self.queue}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port must be within 1..65535, got {self.port}")
        if not 1 <= self.max_upload_mb <= 1024:
            raise ConfigError(f"--max-upload-mb must be within 1..1024, got {self.max_upload_mb}")
        if self.keep_jobs < self.capacity:
            raise ConfigError(f"--keep-jobs must be at least --workers + --queue ({self.capacity}), "
                              f"got {self.keep_jobs}")
        if self.fit_cache_mb < 0:
            raise ConfigError(f"--fit-cache-mb must be >= 0, got {self.fit_cache_mb}")
        if not 256 <= self.texture_size <= 4096:
            raise ConfigError(f"--texture-size must be within 256..4096, got {self.texture_size}")
        if self.workdir is not None and self.workdir.exists() and not self.workdir.is_dir():
            raise ConfigError(f"--workdir {self.workdir} is a file, give a folder")
        check_view_options(self.views, None, self.size)
        if not 1 <= self.views <= MAX_PAGE_VIEWS or not PAGE_SIZES[0] <= self.size <= PAGE_SIZES[1]:
            raise ConfigError(f"--views must be within 1..{MAX_PAGE_VIEWS} and --size within "
                              f"{PAGE_SIZES[0]}..{PAGE_SIZES[1]} on the page, got {self.views} and {self.size}")
        return self
