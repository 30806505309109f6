"""GAN3DViews: single views framed for 3DHumanGAN. Shapes and ranges, a crop that keeps the
whole person, label maps that agree with the mask and name only body parts, cropped cameras
that put the body on the person, the pose-family filter, determinism."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from humanmv.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gan3d_data  # noqa: E402

H, W = 64, 32


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def data(tmp_path_factory, body, renderer) -> Path:
    return gan3d_data.gan3d_dataset(tmp_path_factory, body, renderer)


@pytest.fixture(scope="module")
def views(data, body, renderer):
    from humanmv.data.gan3d_views import GAN3DViews

    return GAN3DViews(data, body, H, W, split=None, renderer=renderer)


def _index(ds, subject: str, view: str) -> int:
    return next(i for i, (s, v) in enumerate(ds.items)
                if ds.subjects[s][0] == subject and ds.cameras[s].names[v] == view)


# The t-pose front view (widest), a side view, the walking back view, a raised a-pose view.
CASES = [("000000", "000"), ("000000", "006"), ("000001", "012"), ("000002", "027")]


def test_item_shapes_and_ranges(views):
    from humanmv.body.anny_model import POSE_BONES

    assert len(views) == 3 * 40 and all(views.cameras[s].names[v] != "input" for s, v in views.items)
    item = views[_index(views, "000001", "003")]
    V = item["vertices"].shape[0]
    shapes = {"rgb": (3, H, W), "mask": (1, H, W), "labels": (H, W), "body_labels": (H, W), "K": (3, 3),
              "world_to_cam": (4, 4), "vertices": (V, 3), "blend": (V, 4, 4), "pose": (len(POSE_BONES), 3),
              "phenotype": (6,)}
    for k, shape in shapes.items():
        assert tuple(item[k].shape) == shape, k
    assert item["labels"].dtype == item["body_labels"].dtype == torch.int64
    assert item["rgb"].dtype == item["mask"].dtype == torch.float32
    assert float(item["rgb"].min()) >= -1 and float(item["rgb"].max()) <= 1 and float(item["rgb"].std()) > 0.1
    assert float(item["mask"].min()) >= 0 and float(item["mask"].max()) <= 1
    off = item["mask"][0] == 0
    assert off.sum() > H * W / 3 and torch.equal(item["rgb"][:, off], torch.ones(3, int(off.sum())))  # on white
    assert (item["subject"], item["view"], item["pose_family"]) == ("000001", "003", "walking")
    from humanmv.data.gan3d_views import GAN3DViews

    assert len(GAN3DViews(views.root, views.body, H, W, split=None, include_input=True,
                          renderer=views.renderer)) == 3 * 41


def test_crop_keeps_the_whole_person_centred_and_height_fitted(views):
    from humanmv.data.format import read_subject
    from humanmv.data.gan3d_views import CROP_MARGIN, portrait_box

    for subject, view in CASES:
        i = _index(views, subject, view)
        mask = views[i]["mask"][0]
        assert float(torch.cat([mask[0], mask[-1], mask[:, 0], mask[:, -1]]).max()) < 0.05, (subject, view)
        full = read_subject(views.root / "subjects" / subject, layers=("mask",), views=[views.items[i][1]]).mask[0]
        x0, y0, bw, bh = portrait_box(full, H, W)
        # Nothing of the person is lost: the mask's area scales with the crop.
        assert float(mask.sum()) * (bh / H) ** 2 == pytest.approx(float(full.sum()), rel=0.03), (subject, view)
        ys, xs = torch.nonzero(mask > 0.02, as_tuple=True)  # any coverage: thin fingers count
        centre = ((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2)
        assert abs(float(centre[0]) - W / 2) <= 1 and abs(float(centre[1]) - H / 2) <= 1, (subject, view, centre)
        extent = float(ys.max() + 1 - ys.min()), float(xs.max() + 1 - xs.min())
        # the height is fitted, or the width where the person is wider than the portrait
        assert max(extent[0], extent[1] * H / W) == pytest.approx(H / CROP_MARGIN, abs=3), (subject, view, extent)
        assert extent[0] <= H / CROP_MARGIN + 2 and extent[1] <= W / CROP_MARGIN + 2
        if (subject, view) == ("000000", "000"):  # the t-pose front: its arm span is fitted
            assert extent[0] < H / CROP_MARGIN - 4, extent
        if (subject, view) == ("000000", "006"):  # its side: the height
            assert extent[0] == pytest.approx(H / CROP_MARGIN, abs=2), extent


def test_labels_agree_with_the_mask_and_name_only_body_parts(views):
    from humanmv.data.format import read_subject

    garments = 0
    for subject, view in CASES:
        i = _index(views, subject, view)
        item = views[i]
        labels, body_labels = item["labels"], item["body_labels"]
        assert torch.equal(labels >= 0, item["mask"][0] >= 0.5), (subject, view)
        assert int(labels.min()) >= -1 and int(labels.max()) < 16
        both = (labels >= 0) & (body_labels >= 0)
        assert float((labels[both] == body_labels[both]).float().mean()) > 0.9, (subject, view)
        raw = read_subject(views.root / "subjects" / subject, layers=("labels",), views=[views.items[i][1]]).labels
        garments += int((raw >= 16).sum())
    assert garments > 1000  # the subjects are dressed: garment classes were there to map


def test_garments_take_the_part_under_them_or_the_nearest():
    from humanmv.data.gan3d_views import part_labels

    body = torch.tensor([[-1, -1, -1, -1], [-1, 2, 2, -1], [-1, 9, 12, -1], [-1, -1, -1, -1]])
    raw = torch.full((4, 4), -1)
    raw[1, 1], raw[1, 2] = 2, 17     # torso skin; a shirt over the torso
    raw[2, 1], raw[2, 2] = 17, 9     # a shirt over the left leg; skin the data calls left leg
    raw[3, 1], raw[3, 3] = 18, 18    # a skirt's hem below the legs, off the body
    coverage = torch.nn.functional.one_hot(raw.clamp_min(0), 22).permute(2, 0, 1).float() * (raw >= 0)
    mask = (raw >= 0).float()
    labels = part_labels(coverage, mask, body)
    expected = torch.tensor([[-1, -1, -1, -1], [-1, 2, 2, -1], [-1, 9, 9, -1], [-1, 9, -1, 12]])
    assert torch.equal(labels, expected)


def test_cropped_camera_projects_the_body_onto_the_person(views, body):
    from humanmv.body.anny_model import BodyParams
    from humanmv.cameras import Cameras

    for subject, view in CASES:
        item = views[_index(views, subject, view)]
        cams = Cameras(item["K"][None], item["world_to_cam"][None], W, H)
        params = BodyParams(item["pose"][None], item["phenotype"][None], item["expression"][None])
        with torch.no_grad():
            keypoints = body(params).keypoints[0]
        uv = cams.project(keypoints)[0][0]
        ys, xs = torch.nonzero(item["mask"][0] > 0.5, as_tuple=True)
        assert float(uv[:, 0].min()) >= float(xs.min()) - 0.5 and float(uv[:, 0].max()) <= float(xs.max()) + 1.5
        assert float(uv[:, 1].min()) >= float(ys.min()) - 0.5 and float(uv[:, 1].max()) <= float(ys.max()) + 1.5
        # the body rendered at the item's camera lies on the person (garments only add to the mask)
        on_body, person = item["body_labels"] >= 0, item["mask"][0] >= 0.5
        assert float((on_body & person).sum()) / float(on_body.sum()) > 0.95, (subject, view)
        assert float(on_body.sum()) / float(person.sum()) > 0.4, (subject, view)


def test_pose_families_are_held_out(data, body, renderer):
    from humanmv.data.gan3d_views import GAN3DViews, select_subjects

    assert select_subjects(data, "train") == [("000001", "walking"), ("000002", "a-pose")]
    kept = GAN3DViews(data, body, H, W, split="train", exclude_pose_families=("walking",), renderer=renderer)
    assert kept.subjects == [("000002", "a-pose")] and len(kept) == 40
    assert {kept[i]["pose_family"] for i in (0, 17, 39)} == {"a-pose"}
    assert select_subjects(data, None, pose_families=("walking",)) == [("000001", "walking")]
    with pytest.raises(ConfigError) as err:
        select_subjects(data, "train", exclude_pose_families=("walking", "a-pose"))
    assert "\n" not in str(err.value) and "no train subjects" in str(err.value) and "walking" in str(err.value)
    with pytest.raises(ConfigError, match="unknown pose family 'walk'.*walking"):
        select_subjects(data, "train", exclude_pose_families=("walk",))


def test_items_are_deterministic(data, body, renderer, views):
    from humanmv.data.gan3d_views import GAN3DViews

    i = _index(views, "000002", "020")
    fresh = GAN3DViews(data, body, H, W, split=None, renderer=renderer)[i]
    again = views[i]
    for k, v in fresh.items():
        assert torch.equal(v, again[k]) if isinstance(v, torch.Tensor) else v == again[k], k


def test_a_forked_worker_is_refused_not_hung(views):
    from torch.utils.data import DataLoader

    loader = DataLoader(views, batch_size=1, num_workers=1, timeout=120)  # forked (Linux's default)
    with pytest.raises(RuntimeError, match="num_workers=0"):
        next(iter(loader))
