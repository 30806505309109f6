"""The reconstruct stage after any generator: "none" keeps the generator's views and the photo
fit's avatar, "texture" fuses the views into the avatar's texture, "refit" first moves the body
to the views' silhouettes; the avatar it returns is what avatar.json rebuilds."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from humanmv.body.anny_model import BodyParams, axis_angle_to_matrix
from humanmv.body.fitting import FitTargets
from humanmv.cameras import orbit_cameras_around, ring_azimuths
from humanmv.pipelines.subject import Subject
from humanmv.recon import ReconstructOptions, rebuild_vertices, reconstruct_avatar
from humanmv.views import Views


@pytest.fixture(scope="module")
def scene(body, renderer):
    """A heavy person turned 25 degrees, photographed from the front and drawn from 6 sides by
    a "generator", and a fit that got them wrong (the neutral body facing the camera, textured):
    the subject and the views. A single photo cannot tell the turn; the side views can."""
    torch.manual_seed(0)
    params = BodyParams.neutral(1, len(body.expression_names))
    heavy = BodyParams(params.pose, torch.tensor([[0.5, 0.5, 0.5, 0.9, 0.5, 0.5]]), params.expression)
    with torch.no_grad():
        fitted, truth = body(params), body(heavy)
    turn = axis_angle_to_matrix(torch.tensor([0.0, math.radians(25.0), 0.0]))
    centre = truth.vertices[0].mean(0)
    truth.vertices = (truth.vertices - centre) @ turn.T + centre
    truth.keypoints = (truth.keypoints - centre) @ turn.T + centre
    verts = fitted.vertices[0]
    texture = F.interpolate(torch.rand(1, 3, 8, 8), size=(256, 256), mode="bicubic", align_corners=False)
    avatar = body.mesh(verts, texture=texture[0].permute(1, 2, 0).clamp(0, 1))
    person = body.mesh(truth.vertices[0], texture=avatar.texture)
    photo_cam = orbit_cameras_around(verts, [0.0], 0.0, fov_deg=30.0, width=96, height=128)
    seen = renderer.render(person, photo_cam, outputs=("rgb", "mask"))
    kp, _ = photo_cam.project(truth.keypoints[0])
    targets = FitTargets(96, 128, kp[0].numpy(), torch.ones(len(kp[0])).numpy(), seen.mask[0].numpy())
    subject = Subject(seen.rgb[0], seen.mask[0], "body", avatar, photo_cam, verts, params, targets)
    cams = orbit_cameras_around(verts, ring_azimuths(6), 0.0, fov_deg=30.0, width=96, height=96)
    drawn = renderer.render(person, cams, outputs=("mask",))
    views = Views(cams, rgb=torch.full((6, 96, 96, 3), 0.8) * drawn.mask[..., None], mask=drawn.mask)
    return subject, views


def test_none_keeps_the_views_and_the_photo_fit(scene, renderer, body):
    subject, views = scene
    rec = reconstruct_avatar(views, subject, "none", renderer=renderer, body=body)
    assert rec.refit is None and rec.avatar.reconstruct == "none"
    assert torch.equal(rec.views.rgb, views.rgb) and torch.equal(rec.views.mask, views.mask)
    assert rec.views.normal is not None and rec.views.depth is not None  # rendered from the avatar
    assert torch.equal(rec.avatar.mesh.vertices, subject.avatar.vertices)
    assert torch.equal(rec.avatar.mesh.texture, subject.avatar.texture)


def test_texture_fuses_the_views_into_the_unmoved_body(scene, renderer, body):
    subject, views = scene
    # hue checks off: the views' flat grey is a hue the base does not have, which they would doubt
    rec = reconstruct_avatar(views, subject, "texture", ReconstructOptions(hue_sigma=0.0, hue_radius=-1.0),
                             renderer=renderer, body=body)
    assert rec.refit is None and rec.avatar.reconstruct == "texture"
    assert torch.equal(rec.avatar.mesh.vertices, subject.avatar.vertices)
    assert not torch.equal(rec.avatar.mesh.texture, subject.avatar.texture)
    again = renderer.render(rec.avatar.mesh, views.cameras, outputs=("mask", "rgb"))
    assert torch.equal(rec.views.mask, again.mask)  # the output views are renders of the avatar
    # the views' flat grey reached the texture where they and the body agree (the back, unseen by the photo)
    back = rec.views.rgb[3][(rec.views.mask[3] > 0.5) & (views.mask[3] > 0.5)]
    assert (back - 0.8).abs().mean() < 0.05


def test_default_fusion_keeps_the_photos_hue_and_the_views_lightness(scene, renderer, body):
    """Dark purple generated views over a base without purple: by default the texture keeps the
    base's (the photo's completion's) hue; with hue_sigma off as well the views still count
    through their lightness; with both hue checks off it turns purple."""
    from humanmv.views import lab_channels_last

    subject, views = scene
    purple = torch.zeros_like(views.rgb)
    purple[..., 0], purple[..., 1], purple[..., 2] = 0.6, 0.3, 0.65
    views = views.replace(rgb=purple)
    base = lab_channels_last(subject.avatar.texture)
    kept = lab_channels_last(reconstruct_avatar(views, subject, "texture", renderer=renderer, body=body)
                             .avatar.mesh.texture)
    off = lab_channels_last(reconstruct_avatar(views, subject, "texture", ReconstructOptions(hue_sigma=0.0, hue_radius=-1.0),
                                               renderer=renderer, body=body).avatar.mesh.texture)
    view_lab = lab_channels_last(purple[0, 0, 0])
    painted = (off[..., 1:] - view_lab[1:]).norm(dim=-1) < 5  # texels the views colour (the photo does not)
    assert int(painted.sum()) > 1000
    assert float((base[..., 1:] - view_lab[1:])[painted].norm(dim=-1).median()) > 15.0  # purple is new there
    assert float((kept[..., 1:] - base[..., 1:])[painted].norm(dim=-1).median()) < 1.0
    light = lab_channels_last(reconstruct_avatar(views, subject, "texture", ReconstructOptions(hue_sigma=0.0),
                                                 renderer=renderer, body=body).avatar.mesh.texture)
    assert float((light[..., 1:] - base[..., 1:])[painted].norm(dim=-1).median()) < 1.0
    assert float((light[..., 0] - view_lab[0])[painted].abs().median()) < 3.0


def test_refit_moves_the_body_towards_the_views_and_avatar_json_rebuilds_it(scene, renderer, body):
    subject, views = scene
    options = ReconstructOptions()
    rec = reconstruct_avatar(views, subject, "refit", options, renderer=renderer, body=body)
    assert rec.refit is not None and rec.avatar.reconstruct == "refit"
    moved = (rec.avatar.mesh.vertices - subject.avatar.vertices).norm(dim=-1)
    assert moved.max() > 5e-3  # the heavy silhouettes moved the body
    drawn_iou = _iou(views.mask, renderer.render(subject.avatar, views.cameras, outputs=("mask",)).mask)
    refit_iou = _iou(views.mask, rec.views.mask)
    assert refit_iou > drawn_iou + 0.2, (drawn_iou, refit_iou)  # 0.54 -> 0.90 when written
    assert not torch.equal(rec.avatar.params.pose, subject.body_params.pose) or not torch.equal(
        rec.avatar.params.phenotype, subject.body_params.phenotype)
    rebuilt = rebuild_vertices(body, rec.avatar.to_json(body))
    assert (rebuilt - rec.avatar.mesh.vertices).abs().max() < 1e-5


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum()) / float((a | b).sum())
