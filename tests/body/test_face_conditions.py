"""Face-stage conditions in the face crops' own cameras: normals face the camera, landmark groups
land on the matching keypoints, a turned-away eye goes dark, and crop cameras frame the face."""

from __future__ import annotations

import pytest
import torch

from humanmv.body.anny_model import BodyParams
from humanmv.body.face_conditions import LANDMARK_GROUPS, face_conditions, landmark_groups, landmark_heatmaps
from humanmv.body.face_regions import face_regions
from humanmv.cameras import orbit_cameras_around, ring_azimuths


@pytest.fixture(scope="module")
def scene(body, renderer):
    params = BodyParams.neutral(1, len(body.expression_names))
    with torch.no_grad():
        out = body(params)
    vertices, keypoints = out.vertices[0], out.keypoints[0]
    cameras = orbit_cameras_around(vertices, ring_azimuths(8), 0.0, 30.0, 128, 128, margin=1.05)
    regions = face_regions(body, vertices, cameras, renderer)
    crops = regions.crop_cameras(cameras, 64)
    return vertices, keypoints, regions, crops, face_conditions(body, vertices, crops, renderer)


def _centroid(heatmap: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(heatmap.shape[0]) + 0.5, torch.arange(heatmap.shape[1]) + 0.5, indexing="ij")
    w = heatmap / heatmap.sum()
    return torch.stack([(w * xs).sum(), (w * ys).sum()])


def test_groups_and_shapes(scene):
    _, _, regions, crops, cond = scene
    groups = landmark_groups()
    assert len(groups) == len(LANDMARK_GROUPS) and all(len(g) >= 8 for g in groups)
    assert not set(groups[LANDMARK_GROUPS.index("left_eye")]) & set(groups[LANDMARK_GROUPS.index("right_eye")])
    n = len(regions.indices)
    assert (crops.width, crops.height, len(crops)) == (64, 64, n) == (64, 64, 5)
    assert cond.normals.shape == (n, 64, 64, 3) and cond.landmarks.shape == (n, 7, 64, 64)
    assert cond.channels_first().shape == (n, 3 + 1 + 7, 64, 64)


def test_the_crop_is_the_face_at_full_resolution(scene):
    _, _, _, _, cond = scene
    front = cond.mask[0]
    assert 0.3 < front.mean() < 0.95  # the face fills the crop, with room round it
    centre = cond.normals[0, 24:40, 24:40][cond.mask[0, 24:40, 24:40] > 0]
    # OpenCV axes: a surface facing the camera has n_z < 0 (the nose's and eyes' flanks less so).
    assert (centre[:, 2] < 0).all() and centre[:, 2].mean() < -0.75


def test_landmarks_sit_on_the_keypoints(scene, body):
    _, keypoints, regions, crops, cond = scene
    names = body.keypoint_names
    eyes, _ = crops.project(keypoints[[names.index("left_eye"), names.index("right_eye"), names.index("nose")]])
    left = _centroid(cond.landmarks[0, LANDMARK_GROUPS.index("left_eye")])
    right = _centroid(cond.landmarks[0, LANDMARK_GROUPS.index("right_eye")])
    nose = _centroid(cond.landmarks[0, LANDMARK_GROUPS.index("nose")])
    assert left[0] > right[0]  # the subject's left eye on the image's right in a front view
    for found, true in ((left, eyes[0, 0]), (right, eyes[0, 1]), (nose, eyes[0, 2])):
        assert (found - true).norm() < 0.1 * 64, (found, true)
    # In the +90 degree profile (camera on the subject's left) the right eye is hidden.
    profile = regions.indices.index(2)
    right_eye = torch.tensor(landmark_groups()[LANDMARK_GROUPS.index("right_eye")])
    left_eye = torch.tensor(landmark_groups()[LANDMARK_GROUPS.index("left_eye")])
    assert cond.visible[profile, right_eye].float().mean() < 0.2 < cond.visible[profile, left_eye].float().mean()


def test_heatmaps():
    pixels = torch.tensor([[[2.5, 3.5], [7.5, 1.5]]])
    maps = landmark_heatmaps(pixels, torch.tensor([[True, False]]), ((0,), (0, 1), (1,)), 6, 10, sigma=1.0)
    assert maps.shape == (1, 3, 6, 10)
    assert maps[0, 0, 3, 2] == pytest.approx(1.0) and torch.equal(maps[0, 0], maps[0, 1])
    assert (maps[0, 2] == 0).all()  # an unseen landmark draws nothing
