"""ST-LPIPS: the shift-tolerant trunks with the weights `humanmv setup` takes from the
stlpips-pytorch 0.0.2 wheel, against numbers from that package's own code."""

from __future__ import annotations

import zipfile

import pytest
import torch

from humanmv.errors import CheckpointError
from humanmv.eval.lpips import LPIPS
from humanmv.eval.stlpips_weights import (install_stlpips_weights, load_stlpips, stlpips_installed,
                                          stlpips_weights_path)

# stlpips_pytorch.stlpips.LPIPS(net=..., variant="shift_tolerant")(a, b, normalize=True) on the
# pair below, computed once with the package (its torchvision import stubbed out).
REFERENCE = {
    "alex": [0.009346402250230312, 0.010130793787539005, 0.010920017026364803, 0.00944411102682352],
    "vgg": [0.019127488136291504, 0.01897863857448101, 0.019418489187955856, 0.01875997707247734],
}


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    a, _ = torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64)   # the draws the reference made
    return a, (a + 0.2 * torch.randn_like(a)).clamp(0, 1)


def test_setup_installed_both_nets():
    assert stlpips_installed(), "humanmv setup installs the ST-LPIPS weights"


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_values_equal_the_packages_own(net):
    model = load_stlpips(net)
    a, b = _pair()
    with torch.no_grad():
        got = model(a, b)
    assert got.tolist() == pytest.approx(REFERENCE[net], rel=1e-4, abs=1e-7)
    assert torch.equal(model(a, a), torch.zeros(4))


def test_blur_pool_filters_are_the_binomial_and_a_shift_costs_little():
    model = load_stlpips("alex")
    for name, buffer in model.named_buffers():
        if name.endswith(".filt"):
            assert torch.allclose(buffer[0, 0], torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16)
    yy, xx = torch.meshgrid(torch.linspace(0, 6.28, 96), torch.linspace(0, 6.28, 96), indexing="ij")
    img = torch.stack([0.5 + 0.4 * torch.sin(3 * xx), 0.5 + 0.4 * torch.cos(2 * yy), 0.5 + 0.3 * torch.sin(xx + yy)])[None]
    shifted = torch.roll(img, 1, dims=-1)
    noisy = (img + 0.1 * torch.randn(img.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    with torch.no_grad():
        assert float(model(img, shifted)) < 0.5 * float(model(img, noisy))


def test_random_weights_have_the_cached_layout():
    for net in ("alex", "vgg"):
        from safetensors.torch import load_file

        cached = load_file(str(stlpips_weights_path(net)))
        own = LPIPS(f"{net}-st").state_dict()
        assert {k: tuple(v.shape) for k, v in own.items()} == {k: tuple(v.shape) for k, v in cached.items()}


def test_a_wrong_wheel_and_a_missing_cache_say_what_to_do(tmp_path, monkeypatch):
    fake = tmp_path / "stlpips_pytorch-0.0.2-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("stlpips_pytorch/__init__.py", "")
    with pytest.raises(CheckpointError, match="not the stlpips-pytorch 0.0.2 wheel"):
        install_stlpips_weights(fake)
    monkeypatch.setenv("HUMANMV_CACHE", str(tmp_path / "empty-cache"))
    assert not stlpips_installed()
    with pytest.raises(CheckpointError, match="run `humanmv setup`"):
        load_stlpips("alex")
