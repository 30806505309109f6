"""`Metric` availability and the safe weight-file reader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from humanmv.errors import CheckpointError, HumanMVError
from humanmv.eval.availability import Metric, MetricUnavailableError, needs_weights, weights_reason
from humanmv.eval.weights import read_state_dict


def test_available_metric() -> None:
    m = Metric.ok("PSNR", 27.125, count=16)
    assert m.available and m.get() == 27.125 and m.format(2) == "27.12"
    assert m.to_dict() == {"name": "PSNR", "value": 27.125, "available": True, "reason": None, "count": 16}
    inf = Metric.ok("PSNR", math.inf)
    assert inf.format() == "inf" and json.dumps(inf.to_dict())  # JSON-ready, no bare Infinity
    assert inf.to_dict()["value"] == "inf"


def test_unavailable_metric_reports_its_reason() -> None:
    m = needs_weights("LPIPS", None)
    assert m is not None and not m.available and m.value is None
    assert m.reason == "LPIPS weights not given: pass --lpips-weights PATH to the AlexNet trunk + heads files"
    assert m.format() == f"n/a ({m.reason})"
    assert m.to_dict()["available"] is False and m.to_dict()["reason"] == m.reason
    with pytest.raises(MetricUnavailableError, match="LPIPS is unavailable: LPIPS weights not given") as info:
        m.get()
    assert isinstance(info.value, HumanMVError)
    assert needs_weights("FID", "/some/file.pth") is None
    computed = needs_weights("FID", "/some/file.pth") or Metric.ok("FID", 12.0)
    assert computed.get() == 12.0
    assert "--clip-weights" in weights_reason("CLIP")


def test_nothing_is_faked() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Metric.ok("SSIM", float("nan"))
    with pytest.raises(ValueError, match="exactly one"):
        Metric("SSIM")
    with pytest.raises(ValueError, match="exactly one"):
        Metric("SSIM", value=1.0, reason="both")
    with pytest.raises(ValueError, match="needs a reason"):
        Metric.unavailable("SSIM", "  ")


class _NotATensor:
    pass


def test_reader_formats_and_refusals(tmp_path: Path) -> None:
    t = {"a.weight": torch.ones(2, 3)}
    save_file(t, tmp_path / "w.bin")  # safetensors content under another name
    assert torch.equal(read_state_dict(tmp_path / "w.bin")["a.weight"], t["a.weight"])
    torch.save({"state_dict": {"module.a.weight": torch.ones(2, 3)}, "epoch": 3}, tmp_path / "w.pth")
    assert list(read_state_dict(tmp_path / "w.pth")) == ["a.weight"], "unwrapped, prefix removed"
    torch.save({"obj": _NotATensor()}, tmp_path / "pickle.pth")
    with pytest.raises(CheckpointError, match=r"cannot read .* file .*pickle\.pth"):
        read_state_dict(tmp_path / "pickle.pth", "CLIP")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        read_state_dict(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.safetensors")
    data = (tmp_path / "w.bin").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-4])  # a safetensors header, truncated tensors
    with pytest.raises(CheckpointError, match=r"cannot read CLIP file: .*cut\.safetensors"):
        read_state_dict(tmp_path / "cut.safetensors", "CLIP")
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="holds no tensors"):
        read_state_dict(tmp_path / "empty.pth")


def test_torchscript_archives_are_refused(tmp_path: Path) -> None:
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    scripted.save(str(tmp_path / "ViT-B-32.pt"))
    with pytest.raises(CheckpointError, match="TorchScript archive"):
        read_state_dict(tmp_path / "ViT-B-32.pt", "CLIP")
