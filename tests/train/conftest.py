"""One torch thread in the training tests: on a shared 2-core machine, several threads per
process slow the tiny steps down many times over."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
