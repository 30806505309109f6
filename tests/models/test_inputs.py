"""The mvdiff tensor contract (models.inputs): views on white with encoded normals, square
person crops."""

import pytest
import torch

from humanmv.errors import ConfigError
from humanmv.models.inputs import crop_square, person_box, resize_views, view_tensors


def test_view_tensors_composite_on_white_and_encode_normals():
    rgb = torch.full((2, 4, 4, 3), 0.2)
    mask = torch.zeros(2, 4, 4)
    mask[:, 1:3, 1:3] = 1
    normal = torch.zeros(2, 4, 4, 3)
    normal[..., 2] = -1  # facing the camera
    x = view_tensors(rgb, mask, normal)
    assert x.shape == (2, 7, 4, 4)
    assert torch.allclose(x[:, :3, 1, 1], torch.tensor(0.2))
    assert torch.all(x[:, :3, 0, 0] == 1)  # background is white
    assert torch.all(x[:, 3] == mask)
    assert torch.allclose(x[:, 4:, 1, 1], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.all(x[:, 4:, 0, 0] == 1)


def test_person_box_is_a_centred_square_with_margin():
    mask = torch.zeros(100, 80)
    mask[10:50, 20:40] = 1  # 40 tall, 20 wide
    x0, y0, side = person_box(mask, margin=1.5)
    assert side == pytest.approx(60)
    assert x0 + side / 2 == pytest.approx(30)
    assert y0 + side / 2 == pytest.approx(30)
    with pytest.raises(ValueError, match="mask is empty") as err:
        person_box(torch.zeros(8, 8))
    assert not isinstance(err.value, ConfigError)  # a bug upstream, not a user's value


def test_crop_square_samples_the_box_and_fills_outside():
    img = torch.arange(16.0).view(1, 1, 4, 4)
    same = crop_square(img, (0.0, 0.0, 4.0), 4, torch.tensor([9.0]))
    assert torch.allclose(same, img, atol=1e-5)
    quarter = crop_square(img, (2.0, 2.0, 2.0), 2, torch.tensor([9.0]))
    assert torch.allclose(quarter[0, 0], torch.tensor([[10.0, 11.0], [14.0, 15.0]]), atol=1e-5)
    outside = crop_square(img, (-8.0, -8.0, 4.0), 2, torch.tensor([9.0]))
    assert torch.allclose(outside, torch.full_like(outside, 9.0))


def test_crop_square_shrinks_large_boxes_without_aliasing():
    stripes = torch.zeros(1, 1, 256, 256)
    stripes[..., ::2] = 1  # one-pixel stripes average to 0.5
    small = crop_square(stripes, (0.0, 0.0, 256.0), 16, torch.tensor([0.0]))
    assert small.mean().item() == pytest.approx(0.5, abs=0.02)
    assert small.std().item() < 0.05
    assert resize_views(stripes, 16).std().item() < 0.05
