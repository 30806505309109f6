"""The `humanmv` command. It only parses options and calls pipelines; every user error is a
`HumanMVError`, printed as one line on stderr with exit code 2.

Commands live in one module per topic (`root`: the app and `setup`; `photos`: fit, generate,
generators; `data`: synth, import-scans, prune; `bench`; `avatar`: animate, app) and register on
`root.app` when imported here; `humanmv train ...` comes from `humanmv.train.cli`, `humanmv sample ...`
from `sample`.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

# Importing a command module registers its commands; `humanmv --help` lists them in this order.
from humanmv.cli import photos  # noqa: F401, I001
from humanmv.cli import data  # noqa: F401
from humanmv.cli import bench  # noqa: F401
from humanmv.cli import avatar  # noqa: F401
from humanmv.cli.root import app
from humanmv.errors import HumanMVError
from humanmv.cli.sample import sample_app
from humanmv.train.cli import train_app

app.add_typer(train_app, name="train")
app.add_typer(sample_app, name="sample")
__all__ = ["app", "main"]


def _silence_native_stderr() -> None:
    """Keep C++ libraries' log lines (mediapipe/TFLite write several per run straight to file
    descriptor 2) off the terminal, so an error is one line: Python's stderr moves to a copy of
    the terminal's descriptor and descriptor 2 goes to /dev/null. Set HUMANMV_NATIVE_LOGS=1 to
    keep them."""
    if os.environ.get("HUMANMV_NATIVE_LOGS") == "1":
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (e.g. under a test runner)
        pass


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning HumanMVError into one line and exit code 2."""
    real_process = argv is None
    if real_process:
        _silence_native_stderr()
    code = 0
    try:
        result = app(args=argv, standalone_mode=False, prog_name="humanmv")
        code = result if isinstance(result, int) else 0
    except HumanMVError as err:
        print(f"humanmv: error: {err}", file=sys.stderr)
        code = err.exit_code
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as err:
        # click's usage errors (typer vendors click, so match by behaviour, not by class):
        # one line, like every other error, instead of a framed box.
        message = getattr(err, "format_message", None)
        if callable(message) and isinstance(getattr(err, "exit_code", None), int):
            if message():  # empty for a bare `humanmv`, which has printed the help
                print(f"humanmv: error: {message()} (see humanmv --help)", file=sys.stderr)
            code = err.exit_code
        elif type(err).__name__ == "Abort":
            code = 130
        else:
            raise
    if real_process:
        # Everything is written and closed; skip the interpreter's teardown of torch, Anny
        # and the GL context, which takes ~1 s and does nothing useful here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
