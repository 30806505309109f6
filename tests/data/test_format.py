import json

import pytest
import torch
from PIL import Image

from humanmv.body.anny_model import BodyParams
from humanmv.cameras import Cameras, orbit_cameras_around
from humanmv.data.format import read_subject, write_subject
from humanmv.errors import ConfigError
from humanmv.views import Views


@pytest.fixture(scope="module")
def rendered(body, renderer):
    verts = body(BodyParams.neutral()).vertices[0]
    cams = orbit_cameras_around(verts, [0.0, 30.0, 180.0], 0.0, 30.0, 96, 96)
    colors = (verts - verts.min(0).values) / (verts.max(0).values - verts.min(0).values)
    mesh = body.mesh(verts, vertex_colors=colors)
    out = renderer.render(mesh, cams, outputs=("rgb", "mask", "normal", "depth", "labels"))
    return verts, Views.from_render(cams, out, ("rgb", "mask", "normal", "depth", "labels"),
                                    {"kind": "test", "seed": 3})


def test_round_trip_keeps_every_layer(tmp_path, rendered):
    _, views = rendered
    write_subject(tmp_path / "s", views)
    back = read_subject(tmp_path / "s")
    assert back.meta == {"kind": "test", "seed": 3}
    assert back.cameras.names == views.cameras.names
    assert torch.allclose(back.cameras.world_to_cam, views.cameras.world_to_cam, atol=1e-6)
    assert torch.equal(back.mask, views.mask)
    assert (back.rgb - views.rgb).abs().max() <= 1 / 255 + 1e-6
    assert torch.equal(back.labels, views.labels)
    inside = views.mask > 0
    assert (back.depth - views.depth)[inside].abs().max() <= 0.0005 + 1e-6  # 1 mm steps
    angle = torch.rad2deg(torch.acos((back.normal * views.normal).sum(-1)[inside].clamp(-1, 1)))
    assert float(angle.mean()) < 1.0


def test_depth_reprojects_between_views(tmp_path, rendered):
    """Ground truth is consistent: a pixel's depth lifted to 3D lands, in another view, on a
    pixel whose depth agrees (for points both views see)."""
    _, views = rendered
    write_subject(tmp_path / "s", views)
    back = read_subject(tmp_path / "s", layers=("depth", "mask"))
    cams = back.cameras
    rows, cols = torch.nonzero(back.mask[0] > 0, as_tuple=True)
    z = back.depth[0, rows, cols]
    K = cams.K[0]
    x = ((cols + 0.5) - K[0, 2]) / K[0, 0] * z
    y = ((rows + 0.5) - K[1, 2]) / K[1, 1] * z
    cam_pts = torch.stack([x, y, z, torch.ones_like(z)], -1)
    world = (cams.cam_to_world[0] @ cam_pts.T).T[:, :3]
    pix, depth = cams[1].project(world)
    u, v = pix[0, :, 0].long(), pix[0, :, 1].long()
    ok = (u >= 0) & (u < 96) & (v >= 0) & (v < 96)
    seen = back.depth[1, v[ok], u[ok]]
    agree = (seen - depth[0, ok]).abs() < 0.01
    assert float(agree.float().mean()) > 0.6  # a view 30 deg round sees most of the front's points
    err = (seen - depth[0, ok])[agree].abs().mean()
    assert float(err) < 0.005


def test_missing_file_is_named(tmp_path, rendered):
    _, views = rendered
    write_subject(tmp_path / "s", views)
    (tmp_path / "s" / "rgb" / "001.png").unlink()
    with pytest.raises(ConfigError, match="001.png: missing view file"):
        read_subject(tmp_path / "s")
    only = read_subject(tmp_path / "s", layers=("mask",), views=[0, 2])
    assert only.rgb is None and only.mask.shape == (2, 96, 96)
    cams = json.loads((tmp_path / "s" / "cameras.json").read_text())
    assert len(cams) == 3


def test_views_of_their_own_sizes_round_trip(tmp_path, rendered):
    """Each file has its camera's own size; read back, the views share the canvas again with
    background beyond each view."""
    _, views = rendered
    sizes = [(96, 96), (80, 96), (96, 72)]
    c = views.cameras
    cams = Cameras.with_sizes(c.K, c.world_to_cam, sizes, c.names, c.az, c.el)
    own = cams.valid_mask()
    mixed = Views(cams, rgb=views.rgb * own[..., None], mask=views.mask * own,
                  normal=views.normal * own[..., None], depth=views.depth * own,
                  labels=torch.where(own, views.labels, torch.full_like(views.labels, -1)), meta=views.meta)
    write_subject(tmp_path / "s", mixed)
    for layer in ("rgb", "mask", "normal", "depth", "labels"):
        assert [Image.open(tmp_path / "s" / layer / f"{n}.png").size for n in cams.names] == sizes
    back = read_subject(tmp_path / "s")
    assert torch.equal(back.cameras.sizes, cams.sizes)
    assert torch.equal(back.mask, mixed.mask) and torch.equal(back.labels, mixed.labels)
    assert (back.rgb - mixed.rgb).abs().max() <= 1 / 255 + 1e-6
    assert (back.depth - mixed.depth).abs().max() <= 0.0005 + 1e-6
    assert ((back.normal != 0).any(-1) <= own).all()
    one = read_subject(tmp_path / "s", layers=("mask",), views=[2])
    assert torch.equal(one.mask, mixed.mask[2:, :72])  # alone, its own size is the canvas


def test_mis_sized_file_is_named_and_unknown_layers_are_a_bug(tmp_path, rendered):
    _, views = rendered
    write_subject(tmp_path / "s", views)
    Image.new("L", (64, 96)).save(tmp_path / "s" / "mask" / "002.png")
    with pytest.raises(ConfigError, match=r"002.png: 64x96 pixels but cameras.json says 96x96"):
        read_subject(tmp_path / "s", layers=("mask",))
    with pytest.raises(ValueError, match="unknown layers"):
        read_subject(tmp_path / "s", layers=("albedo",))


def test_ground_truth_checks_agree(tmp_path, rendered):
    from humanmv.data.ground_truth import normal_depth_angles, reprojection_errors

    _, views = rendered
    write_subject(tmp_path / "s", views)
    back = read_subject(tmp_path / "s", layers=("depth", "normal", "mask"))
    err = reprojection_errors(back, 0, 1)
    assert len(err) > 500 and float(err.mean()) < 1.0
    assert len(reprojection_errors(back, 0, 2)) < len(err) / 5  # the back view sees little of the front
    angles = normal_depth_angles(back, 0, step=1)  # a 96 px body is thin: a small window
    assert len(angles) > 50 and float(angles.median()) < 10.0
