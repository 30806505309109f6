"""Camera conditioning features of the multi-view UNet: pure geometry, no learned parts.

camera_features(target_w2c (N,4,4), input_w2c (4,4)) -> (N, 12):
- [0:9]  the relative rotation R_t @ R_i^T, row-major: it maps directions in the input camera's
         frame to the target camera's frame (identity for the input camera itself);
- [9:12] the target camera's centre expressed in the input camera's frame, divided by its norm
         (a unit direction; scale-free, so the subject's size and the orbit distance do not
         matter). The input camera itself has centre 0 there and gets (0, 0, 0).
Cameras are world-to-camera 4x4 in OpenCV axes (x right, y down, z forward).
"""

from __future__ import annotations

import torch

CAMERA_DIM = 12


def camera_features(target_w2c: torch.Tensor, input_w2c: torch.Tensor) -> torch.Tensor:
    """(N, 12) float32 features of N target cameras relative to the input camera.

    Args:
        target_w2c: (N, 4, 4) world-to-camera transforms of the target views.
        input_w2c: (4, 4) world-to-camera transform of the input photo's camera.
    """
    if target_w2c.ndim != 3 or target_w2c.shape[1:] != (4, 4):
        raise ValueError(f"camera_features: target_w2c must be (N, 4, 4), got {tuple(target_w2c.shape)}")
    if input_w2c.shape != (4, 4):
        raise ValueError(f"camera_features: input_w2c must be (4, 4), got {tuple(input_w2c.shape)}")
    target_w2c, input_w2c = target_w2c.float(), input_w2c.float()
    r_t, t_t = target_w2c[:, :3, :3], target_w2c[:, :3, 3]
    r_i, t_i = input_w2c[:3, :3], input_w2c[:3, 3]
    rel = r_t @ r_i.T
    centre_world = -(r_t.transpose(1, 2) @ t_t.unsqueeze(-1)).squeeze(-1)  # (N, 3)
    centre_in_input = centre_world @ r_i.T + t_i
    norm = centre_in_input.norm(dim=-1, keepdim=True)
    # The input camera itself has no direction (0/0, or float32 rounding noise of ~1e-7 times
    # the scene's scale): give zeros there, with a tolerance relative to that scale.
    scale = torch.maximum(centre_world.norm(dim=-1, keepdim=True), t_i.norm().clamp_min(1.0))
    defined = norm > 1e-5 * scale
    direction = torch.where(defined, centre_in_input / norm.clamp_min(1e-12), torch.zeros_like(centre_in_input))
    return torch.cat([rel.reshape(-1, 9), direction], dim=-1)


def identity_camera(n: int = 1) -> torch.Tensor:
    """(n, 12): the features of the input camera relative to itself (the reference pass)."""
    return camera_features(torch.eye(4).expand(n, 4, 4), torch.eye(4))
