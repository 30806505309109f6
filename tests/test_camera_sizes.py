"""Camera sets whose views differ in size: the canvas, indexing, resizing, cameras.json and
transforms.json."""

from __future__ import annotations

import json

import pytest
import torch

from humanmv.cameras import Cameras, align_to_fit, look_at, orbit_cameras, to_transforms_json
from humanmv.errors import ConfigError

# A real 4-camera rig mixes 1080- and 1088-px-wide sensors at 1920 px; a tenth of it.
RIG_SIZES = [(108, 192), (109, 192), (108, 192), (109, 192)]


def rig() -> Cameras:
    """Four cameras around the origin with their own sizes and principal points."""
    orbit = orbit_cameras([0.0, 90.0, 180.0, 270.0], [5.0, 0.0, -5.0, 10.0], distance=2.5,
                          width=109, height=192)
    K = orbit.K.clone()
    K[:, 0, 2] = torch.tensor([54.0, 54.5, 54.0, 54.5]) + torch.tensor([0.3, -1.2, 2.0, 0.0])
    return Cameras.with_sizes(K, orbit.world_to_cam, RIG_SIZES, ["c0", "c1", "c2", "c3"],
                              orbit.az, orbit.el)


def test_without_sizes_every_view_has_the_canvas_size() -> None:
    cams = orbit_cameras([0.0, 90.0], width=40, height=30)
    assert cams.sizes.dtype == torch.int64
    assert torch.equal(cams.sizes, torch.tensor([[40, 30], [40, 30]]))
    assert not cams.mixed_sizes and cams.valid_mask().all()


def test_the_canvas_is_the_largest_width_and_height() -> None:
    cams = Cameras.with_sizes(torch.eye(3).repeat(3, 1, 1), torch.eye(4).repeat(3, 1, 1),
                              [(40, 30), (32, 36), (40, 36)])
    assert (cams.width, cams.height) == (40, 36) and cams.mixed_sizes
    assert cams[[0, 2]].mixed_sizes and not cams[[2]].mixed_sizes
    mask = cams.valid_mask()
    assert mask.shape == (3, 36, 40)
    assert mask.sum((1, 2)).tolist() == [40 * 30, 32 * 36, 40 * 36]
    assert mask[0, :30].all() and not mask[0, 30:].any()
    assert mask[1, :, :32].all() and not mask[1, :, 32:].any()


def test_indexing_keeps_sizes_and_shrinks_the_canvas() -> None:
    cams = rig()
    for index, canvas in ((0, (108, 192)), ([1], (109, 192)), ([2, 0], (108, 192)),
                          (slice(1, 3), (109, 192)), (torch.tensor([3, 2]), (109, 192))):
        sub = cams[index]
        idx = torch.arange(4)[index] if not isinstance(index, int) else torch.tensor([index])
        assert torch.equal(sub.sizes, cams.sizes[idx])
        assert (sub.width, sub.height) == canvas
        assert torch.equal(sub.K, cams.K[idx]) and sub.names == [cams.names[i] for i in idx.tolist()]
    empty = cams[[]]
    assert len(empty) == 0 and (empty.width, empty.height) == (109, 192)


def test_resized_gives_every_view_one_size() -> None:
    cams = rig()
    pts = torch.randn(50, 3, generator=torch.Generator().manual_seed(3)) * 0.3
    small = cams.resized(54, 96)
    assert (small.width, small.height) == (54, 96) and not small.mixed_sizes
    assert torch.equal(small.sizes, torch.tensor([[54, 96]] * 4))
    px, _ = cams.project(pts)
    # each view scales from its own size: a point keeps its place relative to its own image
    scale = torch.tensor([54.0, 96.0]) / cams.sizes.float()
    assert torch.allclose(small.project(pts)[0], px * scale[:, None], atol=1e-3)
    assert torch.equal(cams.sizes, torch.tensor(RIG_SIZES))  # the original is untouched


def test_cat_keeps_each_view_size() -> None:
    cams = rig()
    joined = Cameras.cat([cams[[3]], cams[:2]])
    assert torch.equal(joined.sizes, cams.sizes[[3, 0, 1]]) and joined.names == ["c3", "c0", "c1"]
    assert torch.equal(joined.K, cams.K[[3, 0, 1]]) and (joined.width, joined.height) == (109, 192)


def test_align_to_fit_keeps_sizes() -> None:
    cams = rig()
    photo = Cameras(cams.K[:1], look_at(torch.tensor([[0.0, 0.0, 2.0]]), torch.zeros(1, 3)),
                    108, 192)
    aligned = align_to_fit(cams, cams[[0]], photo, gt_depth=2.5, fit_depth=2.0)
    assert torch.equal(aligned.sizes, cams.sizes) and (aligned.width, aligned.height) == (109, 192)


def test_mixed_size_cameras_json_round_trip(tmp_path) -> None:
    cams = rig()
    views = cams.to_json()
    assert [(v["width"], v["height"]) for v in views] == RIG_SIZES
    back = Cameras.from_json(json.loads(json.dumps(views)))
    path = tmp_path / "cameras.json"
    cams.save(path)
    for got in (back, Cameras.load(path)):
        assert torch.equal(got.sizes, torch.tensor(RIG_SIZES))
        assert (got.width, got.height) == (109, 192) and got.mixed_sizes
        assert torch.allclose(got.K, cams.K) and torch.allclose(got.world_to_cam, cams.world_to_cam)
        assert got.names == cams.names and torch.allclose(got.az, cams.az)
    assert got.to_json() == json.loads(path.read_text())


@pytest.mark.parametrize("width, height", [(4, 192), (109, 9000)])
def test_mixed_size_json_still_checks_each_size(width: int, height: int) -> None:
    views = rig().to_json()
    views[2]["width"], views[2]["height"] = width, height
    with pytest.raises(ConfigError, match=r"^rig.json: view 2: width/height must be within 8..8192"):
        Cameras.from_json(views, source="rig.json")


def test_transforms_json_sizes_per_frame() -> None:
    cams = rig()
    data = to_transforms_json(cams, [f"rgb/{n}.png" for n in cams.names])
    assert [(f["w"], f["h"]) for f in data["frames"]] == RIG_SIZES
    assert "w" not in data and "h" not in data  # no one size would be right for every frame
    assert [f["cx"] for f in data["frames"]] == pytest.approx(cams.K[:, 0, 2].tolist())
    same = to_transforms_json(cams[[0, 2]], ["a.png", "b.png"])
    assert (same["w"], same["h"]) == (108, 192)
    assert [(f["w"], f["h"]) for f in same["frames"]] == [(108, 192)] * 2
