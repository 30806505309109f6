"""The pose lifter: its input layout, its contract, its files, and what the shipped weights know."""

from __future__ import annotations

import json

import pytest
import torch

from humanmv.errors import CheckpointError
from humanmv.models.pose_lifter import (PoseLifter, PoseLifterConfig, load_pose_lifter, normalise_keypoints,
                                        normalise_layout)
from humanmv.perception.keypoints import COCO_KEYPOINT_NAMES as NAMES


def _K(f: float, cx: float, cy: float) -> torch.Tensor:
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def test_input_ignores_image_size_focal_and_position():
    """The same rays from a photo twice the size (focal and principal point doubled) and a
    person shifted in the frame: identical input. Unseen points are zero and flagged."""
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(1, len(NAMES), 2, generator=g) * 300 + 100
    conf = torch.ones(1, len(NAMES))
    conf[0, 3] = 0.1
    a, seen = normalise_keypoints(xy, conf, _K(500.0, 256.0, 256.0))
    b, _ = normalise_keypoints(2 * xy, conf, _K(1000.0, 512.0, 512.0))
    c, _ = normalise_keypoints(xy + torch.tensor([40.0, -25.0]), conf, _K(500.0, 256.0, 256.0))
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-4)
    assert seen[0, 3] == 0 and (a[0, 3] == 0).all()
    on = seen[0] > 0
    assert torch.allclose(a[0, on].mean(0), torch.zeros(2), atol=1e-5)
    assert abs(float(a[0, on].square().sum(-1).mean()) - 1) < 1e-4
    empty, _ = normalise_keypoints(xy, torch.zeros(1, len(NAMES)), _K(500.0, 256.0, 256.0))
    assert (empty == 0).all()


def test_forward_contract_and_round_trip(tmp_path):
    model = PoseLifter(PoseLifterConfig(width=16, blocks=1)).eval()
    rays, seen = torch.randn(3, len(NAMES), 2), torch.ones(3, len(NAMES))
    out = model(rays, seen)
    assert out.shape == (3, len(NAMES), 3)
    assert torch.allclose(out, normalise_layout(out), atol=1e-5)
    model.save_pretrained(tmp_path / "lifter")
    again = PoseLifter.from_pretrained(tmp_path / "lifter")
    assert again.config == model.config and torch.equal(again(rays, seen), out)
    with pytest.raises(AssertionError):
        model(rays[:, :5], seen[:, :5])


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json.*missing"):
        PoseLifter.from_pretrained(tmp_path)
    PoseLifter(PoseLifterConfig(width=16, blocks=1)).save_pretrained(tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    (tmp_path / "a" / "config.json").write_text(json.dumps({**cfg, "width": 32}))
    with pytest.raises(CheckpointError, match="shape"):
        PoseLifter.from_pretrained(tmp_path / "a")


def test_shipped_lifter_knows_limb_depth(tmp_path):
    """On validation-split bodies (never trained on) seen by random cameras, the shipped
    weights get each limb's out-of-plane sine to within 0.2 on average, and the direction
    (towards or away from the camera) of clearly foreshortened limbs right 90% of the time."""
    from humanmv.body.pose_evidence import limb_depth_sines
    from humanmv.data.lifting_poses import PoseViews, write_pose_set

    views = PoseViews(write_pose_set(tmp_path / "val.npz", 8, "val"), views=16, seed=5)
    model = load_pose_lifter()
    err, agree, total = [], 0, 0
    for i in range(len(views)):
        item = views[i]
        with torch.no_grad():
            pred = limb_depth_sines(model(item["rays"], item["seen"]), NAMES)
        true = limb_depth_sines(item["target"], NAMES)
        err.append((pred - true).abs().mean())
        clear = true.abs() > 0.5
        agree += int((torch.sign(pred[clear]) == torch.sign(true[clear])).sum())
        total += int(clear.sum())
    assert float(torch.stack(err).mean()) < 0.2
    assert agree / total > 0.9, (agree, total)
