"""The Studio facade: any registered generator from one set of loaded models, switching without
reloading, every module on the Studio's device, and safe from the threads of a server."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "generators"))
import toy  # noqa: E402

toy.register()

JOBS = [  # (photo, seed, generator, options): body and head photos, three generators
    ("astronaut.jpg", 0, "prior", {}),
    ("astronaut.jpg", 1, "toy", {}),
    ("grace_hopper.jpg", 0, "prior", {}),
    ("astronaut.jpg", 2, "mvdiff", {"steps": 2}),
]


@pytest.fixture(scope="module")
def studio():
    from humanmv.studio import Studio

    return Studio(texture_size=256)


def _job(studio, examples_dir, photo, seed, generator, options):
    from humanmv.io.images import load_image

    return studio.generate(load_image(examples_dir / photo), generator, options=options, views=3, size=64,
                           seed=seed)


def _same(a, b) -> bool:
    layers = all(torch.equal(getattr(a.views, n), getattr(b.views, n)) for n in ("rgb", "mask", "normal", "depth"))
    return layers and torch.equal(a.avatar.mesh.vertices, b.avatar.mesh.vertices) and torch.equal(
        a.avatar.mesh.texture, b.avatar.mesh.texture)


def test_threads_get_exactly_what_serial_calls_get(studio, examples_dir):
    serial = [_job(studio, examples_dir, *job) for job in JOBS]
    with ThreadPoolExecutor(max_workers=len(JOBS)) as pool:
        threaded = list(pool.map(lambda job: _job(studio, examples_dir, *job), JOBS))
    for job, a, b in zip(JOBS, serial, threaded):
        assert _same(a, b), job
    # and the jobs really differ from each other (no cross-talk could hide behind equal results)
    assert serial[0].subject.mode == "body" and serial[2].subject.mode == "head"
    assert not torch.equal(serial[0].views.rgb, serial[1].views.rgb)
    assert not torch.equal(serial[0].views.rgb, serial[3].views.rgb)


def test_switching_generators_reloads_nothing_and_modules_sit_on_the_device(studio, examples_dir):
    body = studio.body
    first = studio.load(_choice("mvdiff", {"steps": 2}))
    _job(studio, examples_dir, "astronaut.jpg", 0, "toy", {})
    _job(studio, examples_dir, "astronaut.jpg", 0, "mvdiff", {"steps": 2})
    assert studio.body is body and studio.load(_choice("mvdiff", {"steps": 2})) is first
    # a variant that only changes the reconstruction shares the loaded model
    assert studio.load(_choice("mvdiff", {"steps": 2, "reconstruct": "none"})) is first
    modules = studio.modules()
    assert "body" in modules and any(k.startswith("mvdiff#") for k in modules) and any(k.startswith("toy#") for k in modules)
    for name, module in modules.items():
        tensors = list(module.parameters()) + list(module.buffers())
        assert tensors, name
        assert all(t.device == studio.device for t in tensors), name
    assert studio.device == torch.device("cpu")


def _choice(name, options):
    from humanmv.generators import GeneratorChoice

    return GeneratorChoice.make(name, options)
