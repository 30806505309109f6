"""LPIPS: the published layouts (trunk + heads files), the metric's maths, loader errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from humanmv.errors import CheckpointError
from humanmv.eval.lpips import LPIPS, load_lpips, lpips_distance


def _randomised(net: str) -> LPIPS:
    torch.manual_seed(0)
    model = LPIPS(net)
    for head in model.heads():  # published heads are non-negative
        head.model[1].weight.data.abs_()
    return model


@pytest.fixture(scope="module")
def alex() -> LPIPS:
    return _randomised("alex")


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 64, 64, generator=g)
    return a, (a + 0.2 * torch.randn(a.shape, generator=g)).clamp(0, 1)


def _split(model: LPIPS) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    trunk = {k: v for k, v in sd.items() if k.startswith("features.")}
    heads = {k: v for k, v in sd.items() if k.startswith("lin")}
    return trunk, heads


def test_layout_matches_the_published_files(alex: LPIPS) -> None:
    trunk, heads = _split(alex)
    assert sorted(heads) == [f"lin{i}.model.1.weight" for i in range(5)]
    assert [tuple(heads[f"lin{i}.model.1.weight"].shape) for i in range(5)] == [
        (1, c, 1, 1) for c in (64, 192, 384, 256, 256)
    ]
    assert {k: tuple(v.shape) for k, v in trunk.items() if k.endswith("weight")} == {
        "features.0.weight": (64, 3, 11, 11),
        "features.3.weight": (192, 64, 5, 5),
        "features.6.weight": (384, 192, 3, 3),
        "features.8.weight": (256, 384, 3, 3),
        "features.10.weight": (256, 256, 3, 3),
    }
    vgg = LPIPS("vgg").state_dict()
    conv_ids = sorted(int(k.split(".")[1]) for k in vgg if k.startswith("features.") and k.endswith("weight"))
    assert conv_ids == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert tuple(vgg["lin4.model.1.weight"].shape) == (1, 512, 1, 1)


def test_lpips_values(alex: LPIPS, pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, b = pair
    d = lpips_distance(alex, a, b)
    assert d.shape == (2,) and d.dtype == torch.float32 and (d > 0).all()
    assert torch.equal(lpips_distance(alex, a, a), torch.zeros(2))
    assert torch.allclose(lpips_distance(alex, b, a), d, rtol=1e-5), "symmetric"
    # the definition by hand: unit-normalised features at the taps, squared difference,
    # weighted by the heads, averaged over space, summed over layers
    x = torch.cat([a, b]) * 2 - 1
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    x = (x - shift) / torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    total = torch.zeros(2)
    with torch.no_grad():
        for f, head in zip(alex.tapped_features(x), alex.heads()):
            n = f / (f.norm(dim=1, keepdim=True) + 1e-10)
            w = head.model[1].weight.view(1, -1, 1, 1)
            total += ((n[:2] - n[2:]) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
    assert torch.allclose(d, total, rtol=1e-5)
    assert [f.shape[1] for f in alex.tapped_features(x)] == [64, 192, 384, 256, 256]


def test_alex_round_trip_through_trunk_and_heads_files(
    alex: LPIPS, pair: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    trunk, heads = _split(alex)
    # torchvision's alexnet file also holds the classifier, which LPIPS does not use
    trunk_file = tmp_path / "alexnet-owt.pth"
    torch.save({**trunk, "classifier.1.weight": torch.zeros(4096, 9216)}, trunk_file)
    heads_file = tmp_path / "alex.safetensors"
    save_file(heads, heads_file)
    loaded = load_lpips(trunk_file, heads_file)
    a, b = pair
    assert torch.equal(lpips_distance(loaded, a, b), lpips_distance(alex, a, b))
    for k, v in alex.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_combined_file_with_the_lpips_module_names(
    alex: LPIPS, pair: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    trunk, heads = _split(alex)
    slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}  # features index -> lpips' net.sliceK
    renamed = {f"net.slice{slices[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v for k, v in trunk.items()}
    combined = {**renamed, **heads, "scaling_layer.shift": torch.zeros(1, 3, 1, 1)}
    path = tmp_path / "lpips_alex_full.safetensors"
    save_file(combined, path)
    loaded = load_lpips(path)
    a, b = pair
    assert torch.equal(lpips_distance(loaded, a, b), lpips_distance(alex, a, b))


def test_vgg_round_trip(tmp_path: Path) -> None:
    vgg = _randomised("vgg")
    trunk, heads = _split(vgg)
    save_file(trunk, tmp_path / "vgg16.safetensors")
    save_file(heads, tmp_path / "vgg_heads.safetensors")
    loaded = load_lpips(tmp_path / "vgg16.safetensors", tmp_path / "vgg_heads.safetensors", net="vgg")
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    b = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    d = lpips_distance(loaded, a, b)
    assert d.shape == (1,) and d.item() > 0
    assert torch.equal(d, lpips_distance(vgg, a, b))


def test_bad_files_name_the_file_and_key(alex: LPIPS, tmp_path: Path) -> None:
    trunk, heads = _split(alex)
    save_file(trunk, tmp_path / "trunk.safetensors")
    no_head = {k: v for k, v in heads.items() if not k.startswith("lin3")}
    save_file(no_head, tmp_path / "heads.safetensors")
    msg = r"heads\.safetensors is missing the key 'lin3\.model\.1\.weight'"
    with pytest.raises(CheckpointError, match=msg):
        load_lpips(tmp_path / "trunk.safetensors", tmp_path / "heads.safetensors")
    bad = dict(trunk)
    bad["features.3.weight"] = torch.zeros(10, 64, 5, 5)
    save_file(bad, tmp_path / "bad_trunk.safetensors")
    save_file(heads, tmp_path / "good_heads.safetensors")
    msg = r"bad_trunk\.safetensors: key 'features\.3\.weight' has shape \(10, 64, 5, 5\)"
    with pytest.raises(CheckpointError, match=msg):
        load_lpips(tmp_path / "bad_trunk.safetensors", tmp_path / "good_heads.safetensors")
    # VGG heads with the AlexNet trunk: lin0 matches (64 channels), lin1 is the first to differ
    with pytest.raises(CheckpointError, match="lin1.model.1.weight"):
        load_lpips(tmp_path / "trunk.safetensors", _vgg_heads(tmp_path))
    with pytest.raises(CheckpointError, match="not found"):
        load_lpips(tmp_path / "nope.pth", tmp_path / "good_heads.safetensors")
    with pytest.raises(ValueError, match="net must be"):
        LPIPS("squeeze")


def _vgg_heads(tmp_path: Path) -> Path:
    path = tmp_path / "vgg_heads_only.safetensors"
    channels = (64, 128, 256, 512, 512)
    save_file({f"lin{i}.model.1.weight": torch.zeros(1, c, 1, 1) for i, c in enumerate(channels)}, path)
    return path
