"""Fixtures of the 3DHumanGAN tests: the tiny config, toy shell samples (no body, no renderer)
and one posed Anny body with a raised left arm. One torch thread: the machine is shared."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture
def tiny():
    from humanmv.models.gan3d import get_gan3d_config

    return get_gan3d_config("tiny")


def make_toy_samples(config, views: int, seed: int = 0):
    """ShellSamples of `views` views at the config's style-map size: an ellipse of foreground
    pixels with random part labels, canonical points in [-1, 1]^3, unit directions, even spacing."""
    from humanmv.models.gan3d import ShellSamples

    g = torch.Generator().manual_seed(seed)
    H, W, S = config.style_height, config.style_width, config.samples_per_ray
    rows = (torch.arange(H) + 0.5 - H / 2) / (H / 2)
    cols = (torch.arange(W) + 0.5 - W / 2) / (W / 2)
    inside = (rows[:, None] ** 2 + cols[None, :] ** 2) < 0.7
    mask = inside.float().expand(views, H, W).clone()
    labels = torch.randint(0, config.num_parts, (views, H, W), generator=g)
    labels = torch.where(mask > 0, labels, torch.full_like(labels, -1))
    m = mask[..., None]
    canonical = (torch.rand(views, H, W, S, 3, generator=g) * 2 - 1) * m[..., None]
    directions = torch.nn.functional.normalize(torch.randn(views, H, W, 3, generator=g), dim=-1) * m
    deltas = torch.full((views, H, W, S), 2 * config.shell_half_thickness / S) * m
    zeros3 = torch.zeros(views, H, W, 3)
    return ShellSamples(canonical=canonical, directions=directions, deltas=deltas, mask=mask, labels=labels,
                        foreground=torch.nonzero(mask.reshape(-1) > 0)[:, 0], points=canonical.clone(),
                        distances=deltas.cumsum(-1), surface=zeros3, barycentric=zeros3.clone(),
                        face_id=torch.where(mask > 0, 0, -1).long(),
                        blend=torch.eye(4).expand(views, H, W, 4, 4).clone())


@pytest.fixture
def toy_samples():
    return make_toy_samples


@pytest.fixture(scope="module")
def raised_arm():
    """BodyParams with the left arm raised and bent (a pose far from Anny's rest)."""
    from humanmv.body.anny_model import POSE_BONES, BodyParams

    params = BodyParams.neutral()
    params.pose[0, POSE_BONES.index("upperarm01.L")] = torch.tensor([0.0, 0.0, 0.9])
    params.pose[0, POSE_BONES.index("lowerarm01.L")] = torch.tensor([0.0, 0.0, 0.7])
    return params
