"""Shared fixtures: heavy models are built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: on a shared 2-core machine several threads per process
    slow tiny training steps down many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def body():
    from humanmv.body.anny_model import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def renderer():
    from humanmv.render import Renderer

    return Renderer()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Playwright, the system executable) for the whole session: the
    sync API allows one running Playwright per thread, so every browser test shares it."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))
    from browser import chromium_browser

    with chromium_browser() as b:
        yield b


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


BENCH_VIEWS = [0, 1, 2, 22, 23, 24]  # az 0, 15, 30, 330, 345 and the input: a short ring, fast


@pytest.fixture(scope="session")
def bench_split(tmp_path_factory) -> Path:
    """A one-subject body-bench dataset cut down to 5 views around the front (+ the input)."""
    from humanmv.data.format import read_subject, write_subject
    from humanmv.data.synth import synthesize

    full = tmp_path_factory.mktemp("bench") / "full"
    synthesize(full, "body-bench", 1, seed=7)
    out = full.parent / "ds"
    for folder in (full / "subjects").iterdir():
        write_subject(out / "subjects" / folder.name, read_subject(folder, views=BENCH_VIEWS))
    (out / "manifest.json").write_text((full / "manifest.json").read_text())
    return out


@pytest.fixture(scope="session")
def head360_data(tmp_path_factory) -> Path:
    """A 3-subject head-train-haired dataset (36-view rings; subjects 1 and 2 in the train
    split) with the prior's head-mode views prepared (ROOT/prior-head/)."""
    from humanmv.data.synth import synthesize
    from humanmv.pipelines.prior_views import prepare_prior_views
    from humanmv.studio import Studio

    root = tmp_path_factory.mktemp("head360_data") / "ds"
    synthesize(root, "head-train-haired", 3, seed=3)
    prepare_prior_views(root, lambda: Studio(texture_size=256), mode="head")
    return root


@pytest.fixture(scope="session")
def head360_checkpoint(head360_data, tmp_path_factory) -> Path:
    """A head360 checkpoint folder (back/ + main/) of tiny models, each trained 2 steps by
    `humanmv train head360` on `head360_data`."""
    import shutil

    from humanmv.train.config import TrainConfig
    from humanmv.train.loop import run_training
    from humanmv.train.recipes.head360 import Head360Options

    runs = tmp_path_factory.mktemp("head360_runs")
    folder = runs / "checkpoint"
    folder.mkdir()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for stage in ("back", "main"):
            cfg = TrainConfig(data=str(head360_data), out=str(runs / stage), steps=2, warmup_steps=1,
                              checkpoint_every=2, sample_every=2, log_every=1, quiet=True, lr=1e-3)
            run_training("head360", cfg, Head360Options(stage=stage, config="tiny", views=3))
            shutil.copytree(runs / stage / "final", folder / stage)
    finally:
        torch.set_num_threads(before)
    return folder
