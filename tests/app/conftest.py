"""One `humanmv app` server for all of tests/app (a real process, started once: loading the
models is most of its start), and the helpers the page tests share.

The server runs with --workers 1 --queue 2 (so a burst of 8 jobs gets exactly 3 done),
--max-upload-mb 1 (so a 1.5 MB upload is over the limit) and a 512-pixel texture (speed).
Stopping it with SIGTERM must exit 0 and remove every job folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))


sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_pages import GuardedPage  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "examples" / "astronaut.jpg"
WORKERS, QUEUE, KEEP_JOBS, MAX_UPLOAD_MB = 1, 2, 4, 1
START_TIMEOUT_S = 240


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen
    workdir: Path
    log: Path

    def rss_mb(self) -> float:
        """Resident memory of the server process (MB)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc status")

    def jobs(self) -> list[Path]:
        folder = self.workdir / "jobs"
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"humanmv app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"humanmv app did not serve {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="package")
def app_server(tmp_path_factory) -> AppServer:
    root = tmp_path_factory.mktemp("app")
    workdir, log = root / "work", root / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "humanmv.cli", "app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(WORKERS), "--queue", str(QUEUE), "--keep-jobs", str(KEEP_JOBS),
               "--max-upload-mb", str(MAX_UPLOAD_MB), "--texture-size", "512", "--workdir", str(workdir)]
    env = {**os.environ, "HUMANMV_NATIVE_LOGS": "0"}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env)
    server = AppServer(f"http://127.0.0.1:{port}/", process, workdir, log)
    try:
        wait_until_serving(server.url, process, log, START_TIMEOUT_S)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"humanmv app did not stop on SIGTERM:\n{server.log_tail()}")
    assert code == 0, f"humanmv app exited with {code} on SIGTERM:\n{server.log_tail()}"
    assert not (workdir / "jobs").exists(), f"job folders left after the server stopped: {server.jobs()}"
    left = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*"))
    assert not left, f"the server left files in its work folder: {left[:10]}"


@pytest.fixture
def guarded(browser):
    page = GuardedPage(browser)
    try:
        yield page
    finally:
        page.close()
