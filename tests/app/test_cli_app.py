"""`humanmv app`: settings are checked before anything loads, each a one-line error (exit 2)."""

from __future__ import annotations

import pytest

from humanmv.cli import main


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers must be within 1..8, got 0"),
    (["--queue", "-1"], "--queue must be within 0..32, got -1"),
    (["--port", "70000"], "--port must be within 1..65535, got 70000"),
    (["--workers", "2", "--queue", "8", "--keep-jobs", "4"], "--keep-jobs must be at least --workers + --queue (10), got 4"),
    (["--size", "8"], "--size must be within 64..2048 pixels, got 8"),
    (["--max-upload-mb", "0"], "--max-upload-mb must be within 1..1024, got 0"),
    (["--views", "64"], "--views must be within 1..48 and --size within 64..1024 on the page, got 64 and 256"),
])
def test_bad_settings_are_one_line_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(["app", *flags])
    assert done.value.code == 2
    assert capsys.readouterr().err == f"humanmv: error: {message}\n"
