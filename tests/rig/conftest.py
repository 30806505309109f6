"""Fixtures of the rig tests: one synthetic avatar and its rig per session."""

from __future__ import annotations

import pytest
from rig_cases import synthetic_avatar


@pytest.fixture(scope="session")
def avatar(body):
    return synthetic_avatar(body)


@pytest.fixture(scope="session")
def rig(body, avatar):
    from humanmv.rig import build_rig

    return build_rig(body, avatar)
