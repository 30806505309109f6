import hashlib
import json

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


def test_bench_subjects_are_test_and_workers_write_the_same_bytes(dataset_dir, tmp_path):
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert [e["split"] for e in manifest["subjects"]] == ["test"] * 3
    assert len(MultiViewDataset(dataset_dir, split="test")) == 3
    report = synthesize(tmp_path / "ds2", "body-bench", 2, seed=1, workers=2)
    assert report == {"written": 2, "skipped": 0}

    def digest(folder):
        h = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
        return h.hexdigest()

    for name in ("000000", "000001"):
        assert digest(tmp_path / "ds2" / "subjects" / name) == digest(dataset_dir / "subjects" / name)


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
