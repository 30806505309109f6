"""One torch thread in the training tests: on a shared 2-core machine, several threads per
process slow the tiny steps down many times over."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
