"""The job queue of the demo page: `workers` jobs run at once, `queue` more may wait, and a job
arriving when the server already holds workers + queue jobs is refused at once with `Busy`.

Admission is decided here, when the request arrives, rather than by gradio's queue: gradio's
`max_size` counts only events not yet picked up, so a burst of requests arriving together is cut
at `max_size` (and how many run depends on timing), and it counts every event of the page.
Here exactly `workers + queue` of any burst are taken, the rest are told to come back.
Waiting jobs start in arrival order.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator

BUSY_MESSAGE = "busy: no free place (running {running}, waiting {waiting}); try again in a minute"


class Busy(Exception):
    """The server holds as many jobs as it takes; `str(err)` is the one line to show."""


class JobQueue:
    """Admission and ordering of jobs; thread-safe.

    workers: jobs running at the same time. queue: jobs allowed to wait for a worker.
    """

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, got {workers} and {queue}")
        self.workers = workers
        self.queue = queue
        self._cond = threading.Condition()
        self._waiting: deque[int] = deque()  # tickets in arrival order
        self._running = 0
        self._tickets = itertools.count()
        self.refused = 0  # jobs answered "busy" since the start

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    def held(self) -> tuple[int, int]:
        """(running, waiting) jobs now."""
        with self._cond:
            return self._running, len(self._waiting)

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, poll_s: float = 0.5) -> Iterator[None]:
        """Hold a worker for the body of the `with`; raises `Busy` at once when full.

        on_wait(place): called while waiting for a worker (at once, then every `poll_s` seconds)
        with this job's place in the line (1: it starts next).
        """
        with self._cond:
            if self._running + len(self._waiting) >= self.capacity:
                self.refused += 1
                raise Busy(BUSY_MESSAGE.format(running=self._running, waiting=len(self._waiting)))
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            try:
                while not (self._running < self.workers and self._waiting[0] == ticket):
                    if on_wait is not None:
                        place = self._waiting.index(ticket) + 1
                        self._cond.release()  # the callback may block (it talks to a client)
                        try:
                            on_wait(place)
                        finally:
                            self._cond.acquire()
                    self._cond.wait(poll_s)
            except BaseException:
                self._waiting.remove(ticket)
                self._cond.notify_all()
                raise
            self._waiting.popleft()
            self._running += 1
            self._cond.notify_all()  # the next ticket may start too when workers > 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
