"""The tiny MultiViewUNet and random inputs of the right shapes, shared by the model tests."""

from __future__ import annotations

import dataclasses

import torch

from humanmv.models import MultiViewUNet, get_config

H = 32  # the tiny config's sample size


def tiny_model(**changes) -> MultiViewUNet:
    """The tiny config (with `changes`), weights from seed 0, in eval mode."""
    torch.manual_seed(0)
    return MultiViewUNet(dataclasses.replace(get_config("tiny"), **changes)).eval()


def tiny_inputs(s: int = 1, n: int = 2, streams: int | None = None, seed: int = 1, size: int = H,
                timesteps: int | tuple[int, int] = 500, reference_camera: bool = False) -> dict:
    """Keyword arguments for `model(**inputs)`: S subjects x N views of `size` pixels; the
    reference (S, 4, size, size), or (S, streams, 4, size, size) with `streams`; `timesteps` a
    constant or a (low, high) range to draw from."""
    g = torch.Generator().manual_seed(seed)
    ref = (s,) if streams is None else (s, streams)
    out = {"noisy": torch.randn(s, n, 4, size, size, generator=g)}
    out["timesteps"] = (torch.full((s,), timesteps) if isinstance(timesteps, int)
                        else torch.randint(*timesteps, (s,), generator=g))
    out["conditions"] = torch.rand(s, n, 7, size, size, generator=g)
    out["camera"] = torch.randn(s, n, 12, generator=g)
    out["reference"] = torch.rand(*ref, 4, size, size, generator=g)
    out["reference_conditions"] = torch.rand(*ref, 7, size, size, generator=g)
    if reference_camera:
        out["reference_camera"] = torch.randn(*ref, 12, generator=g)
    return out
