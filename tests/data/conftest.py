"""Fixtures of the data-engine tests: the subject sampler and renderer, one per module."""

from __future__ import annotations

import pytest

from humanmv.data.engine import SubjectRenderer, SubjectSampler


@pytest.fixture(scope="module")
def sample_subject(body):
    return SubjectSampler(body)


@pytest.fixture(scope="module")
def subject_renderer(body, renderer):
    return SubjectRenderer(body, renderer, texture_size=256)
