"""The job queue (admission, order, release) and the job folders (per session, bounded,
removed), without a server."""

from __future__ import annotations

import threading
import time

import pytest

from humanmv.app.jobs import BUSY_MESSAGE, Busy, JobQueue
from humanmv.app.store import JobStore


def _hold(queue: JobQueue, started: list, release: threading.Event, name: str, places: list | None = None):
    def run():
        try:
            with queue.slot(on_wait=(lambda place: places.append((name, place))) if places is not None else None,
                            poll_s=0.02):
                started.append(name)
                release.wait(10)
        except Busy as err:
            started.append(f"busy: {err}")
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_takes_workers_plus_queue_and_refuses_the_rest_at_once():
    queue = JobQueue(workers=1, queue=2)
    started: list[str] = []
    release = threading.Event()
    places: list = []
    threads = [_hold(queue, started, release, "a", places)]
    _wait_for(lambda: started == ["a"])
    threads += [_hold(queue, started, release, "b", places)]
    _wait_for(lambda: queue.held() == (1, 1))
    threads += [_hold(queue, started, release, "c", places)]
    _wait_for(lambda: queue.held() == (1, 2))
    with pytest.raises(Busy) as info:  # the 4th: at once, without waiting
        with queue.slot():
            raise AssertionError("a 4th job must not start")
    assert str(info.value) == BUSY_MESSAGE.format(running=1, waiting=2)
    assert queue.refused == 1
    assert ("b", 1) in places and ("c", 2) in places  # places in line, as the page shows them
    release.set()
    for t in threads:
        t.join(10)
    assert started == ["a", "b", "c"]  # arrival order
    assert queue.held() == (0, 0)


def test_a_failing_job_frees_its_worker():
    queue = JobQueue(workers=1, queue=0)
    with pytest.raises(RuntimeError):
        with queue.slot():
            raise RuntimeError("broken job")
    with queue.slot():
        assert queue.held() == (1, 0)
    assert queue.held() == (0, 0)


def test_two_workers_run_two_jobs_at_once():
    queue = JobQueue(workers=2, queue=0)
    started: list[str] = []
    release = threading.Event()
    threads = [_hold(queue, started, release, n) for n in ("a", "b")]
    _wait_for(lambda: sorted(started) == ["a", "b"])
    assert queue.held() == (2, 0)
    release.set()
    for t in threads:
        t.join(10)


def test_a_session_keeps_its_latest_job_and_the_store_is_bounded(tmp_path):
    store = JobStore(tmp_path, keep=2)
    first = store.new()
    (first / "out.txt").write_text("1")
    store.finish(first, "alice")
    second = store.new()
    store.finish(second, "alice")
    assert not first.exists() and second.exists()  # alice's new result replaces her old one
    assert store.job_of("alice") == second
    bob, carol = store.new(), store.new()
    store.finish(bob, "bob")
    store.finish(carol, "carol")  # 3 sessions, keep=2: the oldest job goes
    assert not second.exists() and bob.exists() and carol.exists()
    assert store.job_of("alice") is None
    store.end_session("bob")
    assert not bob.exists() and store.jobs_on_disk() == [carol]
    failed = store.new()
    store.discard(failed)
    assert not failed.exists()
    store.close()
    assert not store.folder.exists()
