"""Head360Views: continuous sequences are runs of neighbouring ring views, the back stage's
target is the view opposite the input, the dual reference carries the back view's camera."""

from __future__ import annotations

import pytest
import torch

from humanmv.data.head360_views import Head360Views
from humanmv.errors import ConfigError


def _steps(az: torch.Tensor) -> torch.Tensor:
    return torch.remainder(az[1:] - az[:-1] + 180, 360) - 180


def test_a_continuous_item_is_a_run_of_neighbours_with_two_reference_streams(head360_data):
    ds = Head360Views(head360_data, stage="main", views=5, size=32, split=None, colour_augment=0.0)
    item = ds[0]
    assert item["target"].shape == (5, 4, 32, 32) and item["coarse"].shape == (5, 4, 32, 32)
    assert item["normal"].shape == (5, 3, 32, 32) and item["camera"].shape == (5, 12)
    assert item["reference"].shape == (2, 4, 32, 32) and item["reference_conditions"].shape == (2, 7, 32, 32)
    steps = _steps(item["azimuth"]).abs()
    assert torch.allclose(steps, torch.full_like(steps, 10.0), atol=1.0), item["azimuth"]
    ref_cam = item["reference_camera"]
    assert torch.allclose(ref_cam[0, :9], torch.eye(3).flatten(), atol=1e-6)  # the input itself
    assert float(ref_cam[1, 0]) < -0.95 and float(ref_cam[1, 8]) < -0.95    # turned about 180 deg
    assert float(item["target"][:, 3].mean()) > 0.1 and float(item["reference"][:, 3].mean()) > 0.1


def test_random_sequences_are_not_runs(head360_data):
    ds = Head360Views(head360_data, stage="main", views=5, size=32, split=None, sequence="random", colour_augment=0.0)
    runs = [bool(torch.allclose(_steps(ds[i]["azimuth"]).abs(), torch.full((4,), 10.0), atol=1.0)) for i in range(3)]
    assert not all(runs)


def test_the_back_stage_targets_the_view_behind_the_input(head360_data):
    item = Head360Views(head360_data, stage="back", size=32, split=None)[1]
    assert item["target"].shape == (1, 4, 32, 32) and item["reference"].shape == (1, 4, 32, 32)
    assert abs(float(item["azimuth"][0])) > 174.0


def test_colour_augment_moves_reference_and_targets_alike(head360_data):
    plain = Head360Views(head360_data, stage="main", views=3, size=32, split=None, colour_augment=0.0)[0]
    jittered = Head360Views(head360_data, stage="main", views=3, size=32, split=None, colour_augment=1.0)[0]
    assert not torch.allclose(plain["target"][:, :3], jittered["target"][:, :3], atol=1e-3)
    assert torch.equal(plain["target"][:, 3], jittered["target"][:, 3])       # alpha untouched
    assert not torch.allclose(plain["reference"][0, :3], jittered["reference"][0, :3], atol=1e-3)


def test_a_dataset_without_head_prior_views_is_refused(tmp_path):
    (tmp_path / "subjects").mkdir()
    with pytest.raises(ConfigError, match="no prior-head/ views.*humanmv train head360"):
        Head360Views(tmp_path)
