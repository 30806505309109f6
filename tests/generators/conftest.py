"""Fixtures of the generator tests: a Studio and the bundled photo fitted once per module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def studio():
    from humanmv.studio import Studio

    return Studio(texture_size=256)


@pytest.fixture(scope="module")
def astronaut(examples_dir):
    from humanmv.io.images import load_image

    return load_image(examples_dir / "astronaut.jpg")


@pytest.fixture(scope="module")
def astronaut_fit(studio, astronaut):
    """The photo fitted once for the module (the fit is the slow, generator-independent part)."""
    return studio.fitter(astronaut, mode="body", seed=0)
