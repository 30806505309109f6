"""Shared fixtures: heavy models are built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session")
def body():
    from humanmv.body.anny_model import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def renderer():
    from humanmv.render import Renderer

    return Renderer()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
