import numpy as np
import pytest
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.body.avatar_texture import INPAINT, MIRROR, OUTSIDE, PART, PHOTO, TextureBuilder, push_pull_fill
from humanmv.body.sampling import sample_body_params, sample_photo_camera
from humanmv.cameras import orbit_cameras_around

SIZE = 512


@pytest.fixture(scope="module")
def builder(body, renderer):
    return TextureBuilder(body, renderer, SIZE)


@pytest.fixture(scope="module")
def synthetic(body, renderer):
    """A posed body wearing a smooth known texture, photographed from a jittered front camera,
    with its torso painted red in the photo (so the unseen back must come out red)."""
    rng = np.random.default_rng(11)
    params = sample_body_params(rng)
    with torch.no_grad():
        verts = body(params).vertices[0]
    v, u = torch.meshgrid(torch.linspace(1, 0, SIZE), torch.linspace(0, 1, SIZE), indexing="ij")
    truth = torch.stack([0.3 + 0.4 * u, 0.3 + 0.4 * v, 0.5 + 0.2 * u * v], -1)
    torso = body.face_labels == PART_NAMES.index("torso")
    mesh = body.mesh(verts, texture=truth)
    centre = (verts.min(0).values + verts.max(0).values) / 2
    cam = sample_photo_camera(rng, centre, float((verts - centre).norm(dim=-1).max()), 256, 256, az_range=20)
    out = renderer.render(mesh, cam, outputs=("rgb", "mask", "face_id"))
    photo = out.rgb[0].clone()
    red = torso[out.face_id[0].clamp_min(0)] & (out.mask[0] > 0)
    photo[red] = torch.tensor([0.9, 0.1, 0.1])
    return verts, cam, photo, out.mask[0]


def test_photo_view_is_reproduced_and_nothing_is_a_hole(body, renderer, builder, synthetic):
    verts, cam, photo, mask = synthetic
    avatar = builder.build(photo, mask, verts, cam)
    assert avatar.texture.shape == (SIZE, SIZE, 3)
    assert float(avatar.texture.min()) >= 0 and float(avatar.texture.max()) <= 1
    mesh = body.mesh(verts, texture=avatar.texture)
    again = renderer.render(mesh, cam, outputs=("rgb", "mask"))
    inside = (again.mask[0] > 0) & (mask > 0)
    mse = ((again.rgb[0] - photo) ** 2)[inside].mean()
    assert float(10 * torch.log10(1 / mse)) >= 25.0
    # Holes: every pixel of every orbit view samples a texel that something filled.
    views = orbit_cameras_around(verts, torch.arange(16) * 22.5, 0.0, fov_deg=30, width=192, height=192)
    out = renderer.render(mesh, views, outputs=("mask", "uv"))
    uv = out.uv[out.mask > 0]
    col = (uv[:, 0] * SIZE).long().clamp(0, SIZE - 1)
    row = ((1 - uv[:, 1]) * SIZE).long().clamp(0, SIZE - 1)
    unfilled = avatar.filled_from[row, col] == OUTSIDE
    assert float(unfilled.float().mean()) <= 0.01
    codes = set(avatar.filled_from.unique().tolist())
    assert {PHOTO, MIRROR, PART} <= codes and codes <= {PHOTO, MIRROR, PART, INPAINT, OUTSIDE}


def test_unseen_back_of_a_red_front_is_red(body, renderer, builder, synthetic):
    verts, cam, photo, mask = synthetic
    avatar = builder.build(photo, mask, verts, cam)
    mesh = body.mesh(verts, texture=avatar.texture)
    back_cam = orbit_cameras_around(verts, [180.0], 0.0, fov_deg=30, width=256, height=256)
    out = renderer.render(mesh, back_cam, outputs=("rgb", "face_id", "mask"))
    fid = out.face_id[0]
    torso_back = (fid >= 0) & (body.face_labels[fid.clamp_min(0)] == PART_NAMES.index("torso"))
    colour = out.rgb[0][torso_back].median(0).values
    assert colour[0] > 0.6 and colour[1] < 0.35  # the garment's back follows its front


def test_the_photo_s_squarely_seen_face_is_marked_and_only_the_face(body, renderer, builder, synthetic):
    verts, cam, photo, mask = synthetic
    avatar = builder.build(photo, mask, verts, cam)
    face = avatar.face_seen
    assert face.shape == (SIZE, SIZE) and int(face.sum()) > 200
    assert (avatar.filled_from[face] == PHOTO).all() and avatar.seen[face].all()
    # a back view of the same body marks no face
    back = orbit_cameras_around(verts, [180.0], 0.0, fov_deg=30, width=256, height=256)
    seen_back = renderer.render(body.mesh(verts), back, outputs=("mask",)).mask[0]
    behind = builder.build(torch.full((256, 256, 3), 0.5), seen_back, verts, back)
    assert int(behind.face_seen.sum()) == 0


def test_push_pull_fills_smoothly():
    img = torch.zeros(64, 64, 3)
    known = torch.zeros(64, 64, dtype=torch.bool)
    img[:, :32] = torch.tensor([1.0, 0.0, 0.0])
    img[:, 32:] = torch.tensor([0.0, 0.0, 1.0])
    known[::7, ::5] = True
    filled = push_pull_fill(img, known)
    assert torch.allclose(filled[known], img[known])
    assert filled[:, :20, 0].mean() > 0.8 and filled[:, 44:, 2].mean() > 0.8
