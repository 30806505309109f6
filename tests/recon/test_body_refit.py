"""Refitting the body to views all round: a fit that got the arm, the legs and the depth wrong
moves to agree with the silhouettes of the true body seen from 8 directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humanmv.body.anny_model import POSE_BONES, BodyParams
from humanmv.body.fitting import FitTargets
from humanmv.cameras import orbit_cameras_around, ring_azimuths
from humanmv.eval.image_metrics import mask_iou
from humanmv.body.fitting import silhouette_fields
from humanmv.recon import RefitConfig, refit_body_to_views
from humanmv.recon.body_refit import view_trust


@pytest.fixture(scope="module")
def truth(body, renderer):
    """A true body (arm raised forward, a leg out, moved 0.12 m away from the photo camera),
    its silhouettes in 8 ring views, and the photo's evidence (keypoints and mask)."""
    n = len(body.expression_names)
    pose = torch.zeros(1, len(POSE_BONES), 3)
    pose[0, POSE_BONES.index("upperarm01.L"), 1] = -0.8  # about y: forwards
    pose[0, POSE_BONES.index("upperleg01.R"), 1] = 0.35
    true_params = BodyParams(pose, torch.full((1, 6), 0.5), torch.zeros(1, n))
    with torch.no_grad():
        out = body(true_params)
        rest = body(BodyParams.neutral(1, n))
    shift = torch.tensor([0.0, 0.0, -0.12])  # the photo camera looks down -z from +z
    verts = out.vertices[0] + shift
    views = orbit_cameras_around(rest.vertices[0], ring_azimuths(8), 0.0, fov_deg=30.0, width=96, height=96)
    photo_cam = orbit_cameras_around(rest.vertices[0], [0.0], 0.0, fov_deg=30.0, width=96, height=128)
    masks = renderer.render(body.mesh(verts), views, outputs=("mask",)).mask
    photo_mask = renderer.render(body.mesh(verts), photo_cam, outputs=("mask",)).mask[0]
    kp, _ = photo_cam.project(out.keypoints[0] + shift)
    targets = FitTargets(96, 128, kp[0].numpy(), torch.ones(len(kp[0])).numpy(), photo_mask.numpy())
    return BodyParams.neutral(1, n), photo_cam, targets, masks, views, verts


def test_refit_moves_the_body_onto_the_views_silhouettes(body, renderer, truth):
    start, photo_cam, targets, masks, views, true_verts = truth
    with torch.no_grad():
        before = renderer.render(body.mesh(body(start).vertices[0]), views, outputs=("mask",)).mask
    result = refit_body_to_views(body, start, photo_cam, targets, masks, views, RefitConfig(iterations=40))
    after = renderer.render(body.mesh(result.vertices), views, outputs=("mask",)).mask
    iou_before, iou_after = float(mask_iou(before, masks).mean()), float(mask_iou(after, masks).mean())
    assert iou_before < 0.5 and iou_after > 0.75, (iou_before, iou_after)  # measured 0.36 -> 0.84
    # The depth the photo could not see: most of the 0.12 m shift is recovered.
    moved = (result.vertices - true_verts).norm(dim=-1).median()
    assert float(moved) < 0.05  # measured 0.023 m, from 0.12 m
    assert result.params.pose.shape == start.pose.shape and set(result.losses) >= {"views", "photo_keypoints"}


def test_refit_checks_the_masks_against_the_cameras(body, truth):
    start, photo_cam, targets, masks, views, _ = truth
    with pytest.raises(ValueError, match="masks must be"):
        refit_body_to_views(body, start, photo_cam, targets, masks[:, :64], views)


def test_empty_views_are_left_out_and_the_photo_keeps_the_fit(body, truth):
    """Views with nothing drawn carry no silhouette (no loss, no NaN from an empty distance
    field); the photo's terms still hold the body."""
    start, photo_cam, targets, masks, views, _ = truth
    result = refit_body_to_views(body, start, photo_cam, targets, torch.zeros_like(masks), views,
                                 RefitConfig(iterations=5))
    assert result.losses["views"] == 0.0 and torch.isfinite(result.vertices).all()


def test_views_cannot_bend_a_limb_the_photo_saw(body, renderer, truth):
    """The photo shows the arm down (its keypoints, confident); every view draws it raised: the
    arm turns no more than the bound, while the rest still follows the views."""
    start, photo_cam, _, masks, views, _ = truth
    with torch.no_grad():
        out = body(start)
    kp, _ = photo_cam.project(out.keypoints[0])
    photo_mask = renderer.render(body.mesh(out.vertices[0]), photo_cam, outputs=("mask",)).mask[0]
    targets = FitTargets(96, 128, kp[0].numpy(), np.ones(len(kp[0])), photo_mask.numpy())
    # a photo term too weak to hold the arm by itself (many views outvote one photo)
    result = refit_body_to_views(body, start, photo_cam, targets, masks, views,
                                 RefitConfig(iterations=40, photo_weight=0.02))
    arm = POSE_BONES.index("upperarm01.L")
    turn = float(np.degrees((result.params.pose[0, arm] - start.pose[0, arm]).norm()))
    assert turn < 10.0, turn
    free = refit_body_to_views(body, start, photo_cam, targets, masks, views,
                               RefitConfig(iterations=40, photo_weight=0.02, seen_bound_weight=0.0))
    assert float(np.degrees((free.params.pose[0, arm] - start.pose[0, arm]).norm())) > turn + 3


def test_view_trust_drops_a_ghost_and_a_part_the_view_left_out():
    rng = np.random.default_rng(0)
    mask = np.zeros((100, 100), bool)
    mask[20:80, 40:60] = True  # the body
    mask[5:15, 80:95] = True  # a ghost, far from it
    dist_out, boundary = silhouette_fields(mask, 2000, rng)
    ys, xs = np.mgrid[21:80:2, 41:60:2]
    body_uv = torch.tensor(np.stack([xs.ravel(), ys.ravel()], -1), dtype=torch.float32)
    missing = torch.tensor([[10.0, 50.0], [12.0, 60.0], [14.0, 70.0]])  # a part the view did not draw
    uv = torch.cat([body_uv, missing])
    parts = torch.cat([torch.zeros(len(body_uv), dtype=torch.long), torch.ones(3, dtype=torch.long)])
    point_w, boundary_w = view_trust(uv, parts, dist_out, boundary, 100)
    assert (point_w[:len(body_uv)] == 1).all() and (point_w[len(body_uv):] == 0).all()
    ghost = (boundary[:, 1] < 20) & (boundary[:, 0] > 75)
    assert (boundary_w[ghost] == 0).all() and (boundary_w[~ghost] > 0.9).all()
