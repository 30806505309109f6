import pytest
import torch

from humanmv.data.dataset import MultiViewDataset, ViewSequenceDataset
from humanmv.data.synth import synthesize
from humanmv.errors import ConfigError, OutputError


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    report = synthesize(out, "body-bench", 3, seed=1)
    assert report == {"written": 3, "skipped": 0}
    return out


def test_synthesize_is_resumable_and_refuses_another_dataset(dataset_dir):
    assert synthesize(dataset_dir, "body-bench", 3, seed=1) == {"written": 0, "skipped": 3}
    with pytest.raises(OutputError, match="holds a body-bench dataset with seed 1"):
        synthesize(dataset_dir, "body-bench", 3, seed=2)


def test_multiview_items(dataset_dir):
    ds = MultiViewDataset(dataset_dir, split=None, n_targets=4, size=64)
    item = ds[0]
    assert item["input_rgb"].shape == (3, 64, 64) and item["target_rgb"].shape == (4, 3, 64, 64)
    assert item["target_normal"].shape == (4, 3, 64, 64) and item["target_K"].shape == (4, 3, 3)
    az = item["target_az"]
    steps = torch.remainder(az[1:] - az[:-1], 360)
    assert torch.allclose(steps, torch.full_like(steps, 90.0))  # evenly spaced round the rig
    assert torch.allclose(item["target_K"][:, 0, 2], torch.tensor(32.0))  # scaled to 64 px
    assert float(item["input_K"][0, 2]) == 32.0
    assert torch.equal(ds[0]["target_rgb"], item["target_rgb"])  # deterministic per item


def test_sequences_are_consecutive(dataset_dir):
    ds = ViewSequenceDataset(dataset_dir, split=None, length=5)
    assert len(ds) == 3 * 24
    item = ds[23]
    assert item["rgb"].shape[0] == 5
    centres = torch.linalg.inv(item["w2c"])[:, :3, 3]
    step = (centres[1:] - centres[:-1]).norm(dim=-1)
    assert torch.allclose(step, step[0].expand_as(step), rtol=1e-3)  # neighbours, wrapping round


def test_missing_manifest_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="no manifest.json"):
        MultiViewDataset(tmp_path)
