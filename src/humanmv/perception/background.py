"""Run perception in a forked child process while the parent imports torch and loads Anny.

A new `humanmv` process spends ~2.5 s importing torch/Anny and ~0.8 s importing and running
MediaPipe; both are mostly GIL-bound Python, so threads cannot overlap them, but two processes
on two cores can. Fork before torch is imported (no threads to worry about yet); the child
sends back the `Perception` (plain numpy dataclasses) or the `HumanMVError` it raised.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from typing import Any

import numpy as np

from humanmv.errors import HumanMVError


def _child(conn: Any, rgb: np.ndarray, kwargs: dict) -> None:
    try:
        from humanmv.perception import Perceiver

        conn.send(("ok", Perceiver().perceive(rgb, **kwargs)))
    except HumanMVError as err:
        conn.send(("user_error", err))
    except BaseException as err:  # a bug: keep its traceback for the parent's error
        conn.send(("bug", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    finally:
        conn.close()


class BackgroundPerception:
    """`Perceiver().perceive(rgb, **kwargs)` computed in a child process.

    Usage (the context manager stops the child on any error):

        with BackgroundPerception(rgb, name="photo.jpg") as job:
            ...                           # load models meanwhile
            perception = job.result()     # re-raises the child's HumanMVError
    """

    def __init__(self, rgb: np.ndarray, **kwargs: Any) -> None:
        ctx = mp.get_context("fork")
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child_conn, rgb, kwargs), daemon=True)
        self._proc.start()
        child_conn.close()

    def cancel(self) -> None:
        """Stop the child if its result is not wanted (an error elsewhere): otherwise it would
        block on a full pipe and keep the caller's stdout/stderr open after the caller exits."""
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> "BackgroundPerception":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def result(self, timeout: float = 300.0):
        try:
            if not self._conn.poll(timeout):
                raise RuntimeError("perception did not finish in time")
            status, payload = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the perception process died (exit code {self._proc.exitcode})") from None
        finally:
            self._proc.join(timeout=5)
        if status == "ok":
            return payload
        if status == "user_error":
            raise payload
        raise RuntimeError(f"perception failed in its process: {payload}")
