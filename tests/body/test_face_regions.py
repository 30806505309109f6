"""Face regions of a posed body: the face is seen from the front half, its angle follows a
turned head, its box holds the face, and crops paste back without touching anything else."""

from __future__ import annotations

import pytest
import torch

from humanmv.body.anny_model import POSE_BONES, BodyParams
from humanmv.body.face_regions import face_regions, feathered
from humanmv.cameras import orbit_cameras_around, ring_azimuths


@pytest.fixture(scope="module")
def posed(body):
    params = BodyParams.neutral(1, len(body.expression_names))
    with torch.no_grad():
        out = body(params)
    return out.vertices[0], out.keypoints[0]


@pytest.fixture(scope="module")
def ring(posed):
    return orbit_cameras_around(posed[0], ring_azimuths(8), 0.0, 30.0, 128, 128, margin=1.05)


@pytest.fixture(scope="module")
def regions(body, renderer, posed, ring):
    return face_regions(body, posed[0], ring, renderer)


def test_the_face_is_seen_from_the_front_half_only(regions):
    az = ring_azimuths(8)
    folded = torch.minimum(az, 360 - az)
    front = folded <= 90
    assert (regions.angle[front] - folded[front]).abs().max() < 6  # the rest face looks along +z
    assert (regions.angle[~front] > 120).all()
    assert regions.visible.tolist() == [True, True, True, False, False, False, True, True]
    assert regions.indices == [0, 1, 2, 6, 7]
    assert torch.isnan(regions.boxes[3:6]).all() and torch.isfinite(regions.boxes[regions.indices]).all()


def test_boxes_hold_the_face_and_masks_lie_on_the_body(body, renderer, posed, ring, regions):
    vertices, keypoints = posed
    nose, _ = ring.project(keypoints[[body.keypoint_names.index("nose")]])
    silhouettes = renderer.render(body.mesh(vertices), ring, outputs=("mask",)).mask.cpu() > 0.5
    for i in regions.indices:
        x0, y0, side = regions.boxes[i].tolist()
        x, y = nose[i, 0].tolist()
        assert x0 < x < x0 + side and y0 < y < y0 + side, (i, regions.boxes[i], nose[i])
        ys, xs = torch.nonzero(regions.masks[i], as_tuple=True)
        assert x0 <= float(xs.min()) and float(xs.max()) < x0 + side and y0 <= float(ys.min()), i
        assert 4 < side < 40  # a face in a 128 px full-body view
    assert (regions.masks.bool() <= silhouettes).all()
    assert regions.masks[0].sum() > regions.masks[2].sum() > 0  # a profile shows less face


def test_a_turned_head_turns_the_face(body, renderer, ring):
    pose = torch.zeros(1, len(POSE_BONES), 3)
    neutral = BodyParams.neutral(1, len(body.expression_names))
    params = BodyParams(pose, neutral.phenotype, neutral.expression)
    straight = face_regions(body, body(params).vertices[0].detach(), ring, renderer).angle
    for bone in ("neck01", "head"):
        pose[0, POSE_BONES.index(bone), 2] = 0.35  # about Anny's up axis: ~40 degrees of yaw
    turned = face_regions(body, body(BodyParams(pose, params.phenotype, params.expression)).vertices[0].detach(),
                          ring, renderer).angle
    assert 25 < float(turned[0] - straight[0]) < 55
    assert abs(float(turned[1] - turned[7])) > 40  # now nearer one of the 45 degree views


def test_crop_and_paste(regions, renderer, body, posed, ring):
    out = renderer.render(body.mesh(posed[0]), ring, outputs=("mask", "normal"))
    images = (out.normal.cpu() + 1) / 2 * out.mask.cpu()[..., None]
    crops = regions.crop(images, 64)
    assert crops.shape == (5, 64, 64, 3)
    # Its own crops paste back to (almost) the same views: the two resamplings agree.
    again = regions.paste(images, crops)
    assert (again - images).abs().mean() < 2e-3
    red = torch.zeros_like(crops)
    red[..., 0] = 1
    pasted = regions.paste(images, red)
    faces = regions.masks.bool()
    assert torch.equal(pasted[~faces], images[~faces])  # nothing but the faces changes
    core = feathered(regions.masks[0], 0.04 * float(regions.boxes[0, 2])) > 0.99
    assert core.any() and (pasted[0][core] - torch.tensor([1.0, 0, 0])).abs().max() < 0.05
    with pytest.raises(AssertionError):
        regions.paste(images, red[:2])


def test_feathering_stays_inside_the_mask():
    mask = torch.zeros(40, 40)
    mask[10:30, 10:30] = 1
    soft = feathered(mask, 3.0)
    assert (soft[mask == 0] == 0).all() and soft[20, 20] == pytest.approx(1.0, abs=1e-4)
    assert 0 < float(soft[10, 20]) < 0.5  # the edge fades
    assert torch.equal(feathered(mask, 0.2), mask)
