import math

import pytest
import torch

from humanmv.cameras import orbit_cameras
from humanmv.errors import ConfigError
from humanmv.models.camera import camera_features, identity_camera


def test_identity_camera_gives_identity_rotation_and_zero_direction():
    f = camera_features(torch.eye(4)[None], torch.eye(4))
    assert f.shape == (1, 12)
    assert torch.equal(f[0, :9], torch.eye(3).flatten())
    assert torch.equal(f[0, 9:], torch.zeros(3))
    assert torch.equal(identity_camera(3), f.expand(3, 12))


def test_same_camera_is_identity_for_any_orbit_camera():
    cams = orbit_cameras([37.0], el_deg=12.0)
    f = camera_features(cams.world_to_cam, cams.world_to_cam[0])
    assert torch.allclose(f[0, :9], torch.eye(3).flatten(), atol=1e-6)
    assert torch.allclose(f[0, 9:], torch.zeros(3), atol=1e-6)


def test_90_degree_orbit():
    cams = orbit_cameras([0.0, 90.0], distance=2.5)
    f = camera_features(cams.world_to_cam, cams.world_to_cam[0])
    # Input camera at +Z looking at -Z; the target at +X looking at -X. In OpenCV axes
    # (y down) that is a +90 degree rotation about the camera's y axis.
    ry90 = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    assert torch.allclose(f[1, :9].reshape(3, 3), ry90, atol=1e-6)
    assert abs(torch.linalg.det(f[1, :9].reshape(3, 3)) - 1) < 1e-6
    # The target's centre (d, 0, 0) seen from the input camera: right (+x) and forward (+z).
    s = 1 / math.sqrt(2)
    assert torch.allclose(f[1, 9:], torch.tensor([s, 0.0, s]), atol=1e-6)
    # Back view: 180 degrees about y, centre straight ahead at twice the distance.
    back = camera_features(orbit_cameras([180.0]).world_to_cam, cams.world_to_cam[0])[0]
    assert torch.allclose(back[:9].reshape(3, 3), torch.diag(torch.tensor([-1.0, 1.0, -1.0])), atol=1e-6)
    assert torch.allclose(back[9:], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)


def test_features_do_not_depend_on_orbit_distance():
    near = orbit_cameras([0.0, 45.0, 200.0], el_deg=10.0, distance=2.0).world_to_cam
    far = orbit_cameras([0.0, 45.0, 200.0], el_deg=10.0, distance=7.0).world_to_cam
    assert torch.allclose(camera_features(near, near[0]), camera_features(far, far[0]), atol=1e-5)


def test_bad_shapes_are_value_errors():
    # Internal contract (our code builds the cameras), not a user's value: no ConfigError.
    with pytest.raises(ValueError, match="target_w2c") as err:
        camera_features(torch.eye(4), torch.eye(4))
    assert not isinstance(err.value, ConfigError)
    with pytest.raises(ValueError, match="input_w2c"):
        camera_features(torch.eye(4)[None], torch.eye(3))
