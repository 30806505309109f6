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

    Usage: `job = BackgroundPerception(rgb, name="photo.jpg")`; ...; `perception = job.result()`
    (re-raises the child's HumanMVError in the parent).
    """

    def __init__(self, rgb: np.ndarray, **kwargs: Any) -> None:
        ctx = mp.get_context("fork")
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child_conn, rgb, kwargs), daemon=True)
        self._proc.start()
        child_conn.close()

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
