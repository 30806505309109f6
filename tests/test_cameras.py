"""Camera conventions, construction helpers and (de)serialisation."""

from __future__ import annotations

import json
import math

import pytest
import torch

from humanmv.cameras import (
    OPENCV_TO_OPENGL,
    Cameras,
    continuous_sequence,
    intrinsics_from_fov,
    look_at,
    orbit_cameras,
    to_transforms_json,
    view_set,
)
from humanmv.errors import ConfigError

ATOL = 1e-5


def _rotation(w2c: torch.Tensor) -> torch.Tensor:
    return w2c[..., :3, :3]


# ---- orbit conventions --------------------------------------------------------------------------
def test_front_view_is_on_plus_z_looking_at_the_origin() -> None:
    cams = orbit_cameras([0.0], 0.0, distance=2.5)
    assert torch.allclose(cams.centers[0], torch.tensor([0.0, 0.0, 2.5]), atol=ATOL)
    R = _rotation(cams.world_to_cam[0])
    # rows of R are the camera axes in world coordinates: x right = +X, y down = -Y, z = -Z
    assert torch.allclose(R[0], torch.tensor([1.0, 0.0, 0.0]), atol=ATOL)
    assert torch.allclose(R[1], torch.tensor([0.0, -1.0, 0.0]), atol=ATOL)
    assert torch.allclose(R[2], torch.tensor([0.0, 0.0, -1.0]), atol=ATOL)
    # the origin is straight ahead at depth 2.5 and projects to the principal point
    px, z = cams.project(torch.zeros(1, 3))
    assert torch.allclose(z, torch.tensor([[2.5]]))
    assert torch.allclose(px[0, 0], cams.K[0, :2, 2], atol=1e-4)


def test_image_axes_at_the_front_view() -> None:
    cams = orbit_cameras([0.0], 0.0, distance=2.5, width=64, height=64)
    px, _ = cams.project(torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]]))
    centre, right, up = px[0]
    assert right[0] > centre[0] and torch.isclose(right[1], centre[1])  # world +X -> image right
    assert up[1] < centre[1] and torch.isclose(up[0], centre[0])  # world +Y -> image up (y down)


@pytest.mark.parametrize("az, expected", [(90.0, (1.0, 0.0, 0.0)), (180.0, (0.0, 0.0, -1.0)),
                                          (270.0, (-1.0, 0.0, 0.0))])
def test_azimuth_goes_round_through_plus_x(az: float, expected: tuple) -> None:
    cams = orbit_cameras([az], 0.0, distance=2.0)
    assert torch.allclose(cams.centers[0], 2.0 * torch.tensor(expected), atol=1e-5)
    # still looking at the origin with the image upright (y axis has a -Y component)
    R = _rotation(cams.world_to_cam[0])
    assert torch.allclose(R[2], -torch.tensor(expected), atol=1e-5)
    assert R[1, 1] < -0.99


def test_elevation_lifts_the_camera_and_looks_down() -> None:
    el = 30.0
    cams = orbit_cameras([0.0], el, distance=2.0, target=(0.0, 1.0, 0.0))
    c = cams.centers[0]
    expected = torch.tensor([0.0, 1.0 + 2.0 * math.sin(math.radians(el)),
                             2.0 * math.cos(math.radians(el))])
    assert torch.allclose(c, expected, atol=1e-5)
    assert _rotation(cams.world_to_cam[0])[2, 1] < 0  # optical axis points down
    assert torch.allclose(cams.project(torch.tensor([[0.0, 1.0, 0.0]]))[0][0, 0],
                          cams.K[0, :2, 2], atol=1e-4)


def test_orbit_stores_angles_and_names() -> None:
    cams = orbit_cameras([0.0, 45.0], [10.0, -5.0], names=["front", "side"])
    assert cams.names == ["front", "side"]
    assert torch.equal(cams.az, torch.tensor([0.0, 45.0]))
    assert torch.equal(cams.el, torch.tensor([10.0, -5.0]))
    assert orbit_cameras([0.0, 1.0]).names == ["000", "001"]


# ---- look_at ------------------------------------------------------------------------------------
def test_look_at_is_a_proper_rotation() -> None:
    g = torch.Generator().manual_seed(0)
    eye = torch.randn(64, 3, generator=g) * 3
    target = torch.randn(64, 3, generator=g) * 0.3
    roll = torch.rand(64, generator=g) * 360
    w2c = look_at(eye, target, roll_deg=roll)
    R = _rotation(w2c)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(64, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64), atol=1e-5)
    assert torch.allclose(w2c[:, 3], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(64, 4))
    # the camera sits at `eye` and the target is on the optical axis, in front
    c2w = torch.linalg.inv(w2c)
    assert torch.allclose(c2w[:, :3, 3], eye, atol=1e-4)
    cam_target = (R @ target.unsqueeze(-1)).squeeze(-1) + w2c[:, :3, 3]
    assert torch.allclose(cam_target[:, :2], torch.zeros(64, 2), atol=1e-4)
    assert (cam_target[:, 2] > 0).all()


def test_look_at_straight_down_is_defined() -> None:
    w2c = look_at(torch.tensor([[0.0, 3.0, 0.0]]), torch.zeros(1, 3))
    assert torch.isfinite(w2c).all()
    R = _rotation(w2c[0])
    assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5)
    assert torch.allclose(R[2], torch.tensor([0.0, -1.0, 0.0]), atol=1e-5)


def test_roll_rotates_the_image() -> None:
    eye, target = torch.tensor([[0.0, 0.0, 2.0]]), torch.zeros(1, 3)
    R0, R90 = _rotation(look_at(eye, target)[0]), _rotation(look_at(eye, target, roll_deg=90.0)[0])
    assert torch.allclose(R90[2], R0[2], atol=1e-6)  # same optical axis
    assert torch.allclose((R0[0] * R90[0]).sum(), torch.tensor(0.0), atol=1e-6)  # x turned 90 deg


def test_intrinsics_from_fov() -> None:
    K = intrinsics_from_fov(90.0, 200, 100)
    assert torch.allclose(K, torch.tensor([[50.0, 0, 100], [0, 50, 50], [0, 0, 1]]), atol=1e-4)


# ---- view sets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 4, 6, 36, 1000])
def test_view_set_spacing(n: int) -> None:
    cams = view_set(n, el_deg=5.0, width=32, height=32)
    assert len(cams) == n and cams.az[0] == 0.0
    assert torch.allclose(cams.az, torch.arange(n) * (360.0 / n))
    assert (cams.el == 5.0).all()


@pytest.mark.parametrize("n", [0, -3, 1001])
def test_view_set_bounds(n: int) -> None:
    with pytest.raises(ConfigError, match="number of views"):
        view_set(n)


def test_continuous_sequence() -> None:
    cams = continuous_sequence(-30.0, 30.0, 7)
    assert torch.allclose(cams.az, torch.linspace(-30, 30, 7))
    with pytest.raises(ConfigError):
        continuous_sequence(0.0, 10.0, 1)


# ---- indexing and resizing ----------------------------------------------------------------------
def test_indexing_keeps_everything_aligned() -> None:
    cams = view_set(6, width=40, height=30)
    for index in (2, slice(1, 4), [5, 0], torch.tensor([3, 1])):
        sub = cams[index]
        idx = torch.arange(6)[index] if not isinstance(index, int) else torch.tensor([index])
        assert torch.equal(sub.K, cams.K[idx])
        assert torch.equal(sub.world_to_cam, cams.world_to_cam[idx])
        assert sub.names == [cams.names[i] for i in idx.tolist()]
        assert torch.equal(sub.az, cams.az[idx]) and (sub.width, sub.height) == (40, 30)


def test_resized_scales_pixels_per_axis() -> None:
    cams = orbit_cameras([20.0, 200.0], [10.0, -15.0], width=64, height=48)
    pts = torch.randn(50, 3, generator=torch.Generator().manual_seed(1)) * 0.3
    small = cams.resized(160, 72)
    assert (small.width, small.height) == (160, 72)
    px, z = cams.project(pts)
    px2, z2 = small.project(pts)
    assert torch.allclose(px2, px * torch.tensor([160 / 64, 72 / 48]), atol=1e-3)
    assert torch.allclose(z2, z)
    assert torch.equal(small.world_to_cam, cams.world_to_cam) and small.names == cams.names
    assert cams.width == 64  # the original is untouched


def test_bad_shapes_raise() -> None:
    # Shapes passed between our own functions are contracts (ValueError with a traceback), not
    # user input.
    with pytest.raises(ValueError, match=r"world_to_cam \(C,4,4\)") as err:
        Cameras(torch.eye(3)[None], torch.eye(4)[None, :3], 16, 16)
    assert not isinstance(err.value, ConfigError)
    K, w2c = torch.eye(3).repeat(2, 1, 1), torch.eye(4).repeat(2, 1, 1)
    with pytest.raises(ValueError, match="sizes must be"):
        Cameras(K, w2c, 16, 16, sizes=torch.tensor([[16, 16]]))
    with pytest.raises(ValueError, match="sizes must be"):
        Cameras(K, w2c, 16, 16, sizes=torch.tensor([[16, 16], [0, 16]]))
    with pytest.raises(ValueError, match="largest view size 20x16, got 16x16"):
        Cameras(K, w2c, 16, 16, sizes=torch.tensor([[16, 16], [20, 12]]))


# ---- JSON ---------------------------------------------------------------------------------------
def _mixed_cameras() -> Cameras:
    orbit = orbit_cameras([0.0, 137.5], [12.0, -8.0], width=96, height=64, names=["a", "b"])
    free = Cameras(orbit.K[:1] * torch.tensor([[1.1], [1.0], [1.0]]),
                   look_at(torch.tensor([[0.3, 0.2, -1.7]]), torch.zeros(1, 3), roll_deg=12.0),
                   96, 64, ["free"])  # az/el NaN: not an orbit view
    return Cameras(torch.cat([orbit.K, free.K]), torch.cat([orbit.world_to_cam, free.world_to_cam]),
                   96, 64, orbit.names + free.names, torch.cat([orbit.az, free.az]),
                   torch.cat([orbit.el, free.el]))


def _assert_same(a: Cameras, b: Cameras) -> None:
    assert torch.allclose(a.K, b.K) and torch.allclose(a.world_to_cam, b.world_to_cam, atol=1e-7)
    assert (a.width, a.height, a.names) == (b.width, b.height, b.names)
    assert torch.equal(a.az.isnan(), b.az.isnan()) and torch.equal(a.el.isnan(), b.el.isnan())
    assert torch.allclose(a.az.nan_to_num(), b.az.nan_to_num())
    assert torch.allclose(a.el.nan_to_num(), b.el.nan_to_num())


def test_json_round_trip(tmp_path) -> None:
    cams = _mixed_cameras()
    views = cams.to_json()
    assert [v["name"] for v in views] == ["a", "b", "free"]
    assert views[2]["az"] is None and views[2]["el"] is None
    _assert_same(Cameras.from_json(json.loads(json.dumps(views))), cams)
    path = tmp_path / "cameras.json"
    cams.save(path)
    _assert_same(Cameras.load(path), cams)


def _valid_views() -> list[dict]:
    return orbit_cameras([0.0, 90.0], 0.0, width=64, height=64).to_json()


def _bad(change) -> list[dict]:
    views = _valid_views()
    change(views)
    return views


@pytest.mark.parametrize("views, message", [
    ({"K": []}, "JSON list"),
    ([], "JSON list"),
    (["not a view"], "view 0"),
    (_bad(lambda v: v[1].pop("K")), "view 1 lacks the field 'K'"),
    (_bad(lambda v: v[0].pop("world_to_camera")), "'world_to_camera'"),
    (_bad(lambda v: v[0].pop("width")), "'width'"),
    (_bad(lambda v: v[0].__setitem__("K", [[1, 0], [0, 1]])), "K must be 3x3"),
    (_bad(lambda v: v[0].__setitem__("K", "eye")), "view 0"),
    (_bad(lambda v: v[0]["K"][0].__setitem__(0, -5.0)), "focal"),
    (_bad(lambda v: v[0]["world_to_camera"][0].__setitem__(0, 2.0)), "world_to_camera"),
    (_bad(lambda v: v[0].__setitem__("world_to_camera",
                                     torch.diag(torch.tensor([1.0, 1, -1, 1])).tolist())),
     "world_to_camera"),  # a reflection, not a rotation
    (_bad(lambda v: v[0]["world_to_camera"].__setitem__(3, [0.0, 0.0, 1.0, 1.0])),
     "world_to_camera's last row"),  # not a rigid transform
    (_bad(lambda v: v[0]["world_to_camera"][0].__setitem__(3, float("nan"))), "finite"),
    (_bad(lambda v: v[0].__setitem__("width", 4)), "width/height"),
    (_bad(lambda v: v[1].__setitem__("height", 100000)), "width/height"),
    (_bad(lambda v: v[1].__setitem__("width", "wide")), "view 1 has a malformed value"),
])
def test_from_json_errors_name_the_problem(views, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Cameras.from_json(views, source="cams.json")


def test_from_json_error_names_the_source() -> None:
    with pytest.raises(ConfigError, match="^cams.json: "):
        Cameras.from_json(_bad(lambda v: v[0].pop("K")), source="cams.json")


def test_load_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        Cameras.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Cameras.load(bad)


# ---- transforms.json ----------------------------------------------------------------------------
def test_transforms_json_is_opengl_camera_to_world() -> None:
    cams = _mixed_cameras()
    data = to_transforms_json(cams, [f"rgb/{n}.png" for n in cams.names])
    assert (data["w"], data["h"]) == (96, 64) and len(data["frames"]) == 3
    pts = torch.randn(40, 3, generator=torch.Generator().manual_seed(2)) * 0.3
    px_cv, _ = cams.project(pts)
    for i, frame in enumerate(data["frames"]):
        assert frame["file_path"] == f"rgb/{cams.names[i]}.png"
        c2w = torch.tensor(frame["transform_matrix"])
        # the camera sits at its centre and looks along -z of its transform, at the subject
        assert torch.allclose(c2w[:3, 3], cams.centers[i], atol=1e-5)
        forward = -c2w[:3, 2]
        to_origin = torch.nn.functional.normalize(-cams.centers[i], dim=0)
        assert torch.dot(forward, to_origin) > 0.9
        assert torch.allclose(c2w[:3, 1] @ torch.tensor([0.0, 1.0, 0.0]),
                              -_rotation(cams.world_to_cam[i])[1, 1], atol=1e-6)  # y up
        # pinhole projection in OpenGL camera axes (x right, y up, looking down -z)
        w2c_gl = torch.linalg.inv(c2w)
        p = pts @ w2c_gl[:3, :3].T + w2c_gl[:3, 3]
        u = frame["fl_x"] * p[:, 0] / -p[:, 2] + frame["cx"]
        v = frame["fl_y"] * -p[:, 1] / -p[:, 2] + frame["cy"]
        assert torch.allclose(torch.stack([u, v], -1), px_cv[i], atol=1e-3)


def test_opencv_to_opengl_flips_y_and_z() -> None:
    assert torch.equal(OPENCV_TO_OPENGL, torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))


def test_align_to_fit_handles_another_focal_length_and_principal_point() -> None:
    """A flat subject photographed by the ground-truth input camera, and a fit that saw the
    same pixels through another camera (focal 0.75x, principal point moved, another distance
    and size): the aligned targets project the fitted points where the true targets project
    the true points."""
    from humanmv.cameras import align_to_fit, intrinsics_from_fov, look_at

    torch.manual_seed(0)
    targets = orbit_cameras([0.0, 60.0, 180.0], 5.0, 3.0, 35.0, 128, 128)
    input_gt = Cameras(targets.K[:1].clone(), look_at(torch.tensor([[0.4, 0.1, 2.5]]), torch.zeros(1, 3)), 128, 128)
    # The subject: points on the plane z_cam = 2.5 of the input camera (flat, seen face-on).
    uv = torch.rand(40, 2) * 80 + 24
    z_gt = input_gt.world_to_cam[0, 2, 3].abs()  # the camera looks at the origin from its distance
    rays = torch.cat([(uv - input_gt.K[0, :2, 2]) / input_gt.K[0, 0, 0], torch.ones(40, 1)], 1)
    cam_pts = rays * z_gt
    points_gt = (cam_pts - input_gt.world_to_cam[0, :3, 3]) @ input_gt.world_to_cam[0, :3, :3]
    # The fit: focal 0.75x, principal point off by (5, -3) px, at depth 1.9 in its own frame.
    K_fit = intrinsics_from_fov(35.0, 128, 128)[None].clone()
    K_fit[0, 0, 0] = K_fit[0, 1, 1] = 0.75 * float(input_gt.K[0, 0, 0])
    K_fit[0, 0, 2] += 5
    K_fit[0, 1, 2] -= 3
    rays_fit = torch.cat([(uv - K_fit[0, :2, 2]) / K_fit[0, 0, 0], torch.ones(40, 1)], 1)
    fit_cam_pts = rays_fit * 1.9
    input_fit = Cameras(K_fit, look_at(torch.tensor([[0.0, 0.0, 1.9]]), torch.zeros(1, 3)), 128, 128)
    points_fit = (fit_cam_pts - input_fit.world_to_cam[0, :3, 3]) @ input_fit.world_to_cam[0, :3, :3]
    assert torch.allclose(input_fit.project(points_fit)[0], input_gt.project(points_gt)[0], atol=1e-3)

    aligned = align_to_fit(targets, input_gt, input_fit, gt_depth=float(z_gt), fit_depth=1.9)
    assert torch.allclose(torch.det(aligned.world_to_cam[:, :3, :3]), torch.ones(3), atol=1e-5)
    expected, _ = targets.project(points_gt)
    got, _ = aligned.project(points_fit)
    assert torch.allclose(expected, got, atol=1e-2)


def test_cropped_cameras_map_pixels_by_the_box_and_agree_with_crop_box():
    from humanmv.cameras import orbit_cameras
    from humanmv.models.inputs import crop_box

    cams = orbit_cameras([0.0, 40.0], 10.0, distance=3.0, fov_deg=35.0, width=256, height=256)
    boxes = [(60.5, 20.0, 100.0, 200.0), (-10.0, 5.0, 80.0, 160.0)]
    cropped = cams.cropped(boxes, 64, 128)
    assert (cropped.width, cropped.height) == (64, 128)
    points = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 0.4
    before, after = cams.project(points)[0], cropped.project(points)[0]
    for c, (x0, y0, bw, bh) in enumerate(boxes):
        expected = torch.stack([(before[c, :, 0] - x0) * 64 / bw, (before[c, :, 1] - y0) * 128 / bh], -1)
        assert torch.allclose(after[c], expected, atol=1e-3)
    # The image crop puts a marked pixel where the cropped camera projects it.
    image = torch.zeros(1, 1, 256, 256)
    image[0, 0, 100:110, 100:110] = 1.0                  # a 10 px square around (105, 105)
    out = crop_box(image, boxes[0], 128, 64)[0, 0]
    rows, cols = torch.meshgrid(torch.arange(128) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    row, col = float((out * rows).sum() / out.sum()), float((out * cols).sum() / out.sum())   # the square's centre
    assert abs(col - (105 - 60.5) * 64 / 100) < 0.3 and abs(row - (105 - 20) * 128 / 200) < 0.3, (row, col)


def test_azimuths_about_a_centre_are_measured_from_the_reference_camera():
    from humanmv.cameras import azimuths_about

    cams = orbit_cameras([0.0, 30.0, 90.0, 180.0, 270.0], 0.0, 3.0, 30.0, 64, 64, target=[0.2, 1.5, -0.1])
    az = azimuths_about(cams.world_to_cam, cams.world_to_cam[1], torch.tensor([0.2, 1.5, -0.1]))
    expected = torch.tensor([-30.0, 0.0, 60.0, 150.0, -120.0])
    assert torch.allclose(az, expected, atol=1e-3), az  # the orbit's own azimuths, relative to the reference


def test_the_turned_camera_sees_the_centre_from_behind():
    from humanmv.cameras import turned_about

    centre = torch.tensor([0.1, 1.6, -0.2])
    front = orbit_cameras([20.0], 0.0, 2.0, 30.0, 64, 48, target=centre.tolist())
    back = turned_about(front, centre, 180.0)
    mirrored = (front.centers[0] - centre) * torch.tensor([-1.0, 1.0, -1.0])
    assert torch.allclose(back.centers[0] - centre, mirrored, atol=1e-5)
    # still aimed at the centre: it projects to the principal point
    uv, _ = back.project(centre[None])
    assert torch.allclose(uv[0, 0], back.K[0, :2, 2], atol=1e-3) and back.sizes.tolist() == [[64, 48]]
