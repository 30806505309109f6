import torch

from humanmv.views import lab_channels_last, rgb_channels_last_from_lab


def test_lab_round_trip_and_known_values():
    rgb = torch.rand(4, 5, 6, 3)
    assert torch.allclose(rgb_channels_last_from_lab(lab_channels_last(rgb)), rgb, atol=1e-5)
    white = lab_channels_last(torch.ones(3))
    assert abs(float(white[0]) - 100.0) < 0.01 and float(white[1:].abs().max()) < 0.01
    red = lab_channels_last(torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)


def test_lab_out_of_gamut_is_clipped_into_srgb():
    out = rgb_channels_last_from_lab(torch.tensor([[50.0, 120.0, -120.0], [110.0, 0.0, 0.0]]))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
