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


@pytest.fixture(scope="session")
def mvdiff_data(tmp_path_factory) -> Path:
    """A 2-subject body-train dataset with the prior's views prepared (mvdiff training pairs);
    use `split=None` to read both subjects whatever their split."""
    from humanmv.data.synth import synthesize
    from humanmv.pipelines.prior_views import prepare_prior_views
    from humanmv.studio import Studio

    root = tmp_path_factory.mktemp("mvdiff_data")
    synthesize(root, "body-train", 2, seed=0)
    prepare_prior_views(root, lambda: Studio(texture_size=512))
    return root
