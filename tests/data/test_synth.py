import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.data.engine import POSE_FAMILIES, Preset, get_preset, sample_pose
from humanmv.data.format import read_subject, write_subject
from humanmv.data.synth import split_of
from humanmv.errors import ConfigError

TINY = Preset("tiny", "body", (0.0, 90.0, 180.0), (0.0, 0.0, 0.0), 64)


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_different_seed_different_subject(tmp_path, sample_subject, subject_renderer):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_subject(tmp_path / name, subject_renderer(sample_subject(seed), TINY))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    meta_a = json.loads((tmp_path / "a" / "meta.json").read_text())
    meta_c = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta_a["body"] != meta_c["body"] or meta_a["appearance"] != meta_c["appearance"]


def test_views_have_consistent_ground_truth(sample_subject, subject_renderer):
    views = subject_renderer(sample_subject(3), TINY)
    assert views.cameras.names == ["000", "001", "002", "input"]
    assert views.rgb.shape == (4, 64, 64, 3) and views.depth.shape == (4, 64, 64)
    inside = views.mask > 0
    assert inside.any(1).any(1).all()  # the subject is in every view
    assert (views.depth[inside] > 0.5).all() and (views.depth[~inside] == 0).all()
    assert (views.labels[~inside] == -1).all() and views.labels.max() < len(PART_NAMES)
    assert (views.rgb[~inside] == 0).all()


def test_pose_families_and_presets():
    rng = np.random.default_rng(0)
    poses = {f: sample_pose(rng, f) for f in POSE_FAMILIES}
    assert torch.count_nonzero(poses["a-pose"]) == 0
    assert all(torch.count_nonzero(p) > 0 for f, p in poses.items() if f != "a-pose")
    with pytest.raises(ValueError, match="unknown pose family 'lying'"):
        sample_pose(rng, "lying")  # families come from POSE_FAMILIES, never from a user
    with pytest.raises(ConfigError, match="unknown --preset"):
        get_preset("nope")
    assert len(get_preset("body-train").azimuths) == 40


def test_splits_are_stable_and_cover_all():
    train = get_preset("body-train")
    splits = [split_of(0, i, train) for i in range(2000)]
    assert splits == [split_of(0, i) for i in range(2000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["val"] < 0.13 and 0.07 < share["test"] < 0.13


def test_bench_presets_are_all_test():
    for name in ("body-bench", "head-bench"):
        assert {split_of(0, i, get_preset(name)) for i in range(50)} == {"test"}
    assert get_preset("head-train").split is None


def test_round_trip_through_reader(tmp_path, sample_subject, subject_renderer):
    views = subject_renderer(sample_subject(5), TINY)
    write_subject(tmp_path / "s", views)
    back = read_subject(tmp_path / "s", layers=("rgb", "mask"))
    assert torch.equal(back.mask, views.mask)
    assert (back.rgb - views.rgb).abs().max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("name, views", [("head-train", 36), ("head-bench", 16)])
def test_head_presets_frame_the_head_all_round(body, sample_subject, subject_renderer, name, views):
    preset = get_preset(name)
    assert (preset.rig, len(preset.azimuths), preset.expressions) == ("head", views, True)
    assert np.allclose(preset.azimuths, np.arange(views) * 360 / views) and not any(preset.elevations)
    tiny = dataclasses.replace(preset, size=64)  # the preset's rig at a test size
    spec = sample_subject(11, expressions=preset.expressions)
    assert torch.count_nonzero(spec.params.expression) == 3  # head presets pose the face too
    rendered = subject_renderer(spec, tiny)
    cams = rendered.cameras
    assert cams.names == [f"{i:03d}" for i in range(views)] + ["input"] and len(rendered) == views + 1
    # The rig's azimuths, measured from where each camera stands round the head.
    with torch.no_grad():
        head = body(spec.params).vertices[0][body.head_vertex_mask()]
    centre = (head.min(0).values + head.max(0).values) / 2
    offset = cams.centers[:views] - centre
    az = torch.rad2deg(torch.atan2(offset[:, 0], offset[:, 2]))
    assert ((az - torch.tensor(preset.azimuths) + 180) % 360 - 180).abs().max() < 0.01
    assert torch.allclose(offset[:, 1], torch.zeros(views), atol=1e-4)  # elevation 0
    assert torch.allclose(cams.az[:views], torch.tensor(preset.azimuths))
    # The head fills the frame of every view (a body rig leaves it ~2% of the view, ~1/6 high),
    # with the whole head inside.
    is_head = (rendered.labels == PART_NAMES.index("head")) | (rendered.labels == PART_NAMES.index("eyes"))
    for i in range(views):
        ys, xs = torch.nonzero(is_head[i], as_tuple=True)
        assert is_head[i].float().mean() > 0.3, (i, is_head[i].float().mean())
        assert ys.max() - ys.min() + 1 > 0.6 * 64 and xs.max() - xs.min() + 1 > 0.5 * 64, i
        assert not is_head[i, 0].any() and not is_head[i, :, 0].any() and not is_head[i, :, -1].any(), i
    assert is_head[views].float().mean() > 0.2  # the input photo is of the head too


def test_walking_pose_is_a_cycle_with_opposite_swings():
    from humanmv.body.anny_model import POSE_BONES
    from humanmv.data.engine import sample_pose, walking_pose

    b = POSE_BONES.index
    stride = walking_pose(np.pi / 2)
    assert float(stride[b("upperleg01.L"), 0]) == pytest.approx(-0.45) and float(stride[b("upperleg01.R"), 0]) == pytest.approx(0.45)
    assert float(stride[b("upperarm01.L"), 0]) == pytest.approx(0.27)  # the arm swings against its leg
    assert float(stride[b("lowerleg01.L"), 0]) == pytest.approx(0.56)  # that leg's knee bends with the swing
    assert torch.allclose(walking_pose(0.0), walking_pose(2 * np.pi), atol=1e-6)
    mirrored = walking_pose(-np.pi / 2)
    assert float(mirrored[b("upperleg01.L"), 0]) == pytest.approx(0.45)
    # The walking family is the cycle at a random phase.
    phase = np.random.default_rng(3).uniform(0, 2 * np.pi)
    assert torch.equal(sample_pose(np.random.default_rng(3), "walking"), walking_pose(phase))


@pytest.mark.parametrize("name, views", [("head-train-haired", 36), ("head-bench-haired", 16)])
def test_haired_presets_frame_a_portrait_with_hair_as_geometry(body, sample_subject, subject_renderer, name, views):
    from humanmv.data.engine import rig_focus
    from humanmv.shells.labels import LABEL_NAMES

    preset = get_preset(name)
    assert (preset.rig, len(preset.azimuths), preset.expressions, preset.clothed) == ("portrait", views, True, True)
    # Subjects of every hair style: shells for short, curly, bun, ponytail and long hair.
    kinds = {spec.kind for seed in range(60) for spec in sample_subject(seed, clothed=True).outfit}
    assert {"short-hair", "curly-hair", "bun", "ponytail", "long-hair"} <= kinds
    long_haired = next(s for s in range(60) if any(o.kind == "long-hair" for o in sample_subject(s, clothed=True).outfit))
    spec = sample_subject(long_haired, expressions=True, clothed=True)
    rendered = subject_renderer(spec, dataclasses.replace(preset, size=64))
    assert len(rendered) == views + 1
    labels = rendered.labels
    # Head, neck and shoulders in every view, hair as its own class, nothing below the chest.
    for part in ("head", "neck"):
        assert all((labels[i] == LABEL_NAMES.index(part)).any() for i in range(views)), part
    assert (labels[views // 2] == LABEL_NAMES.index("hair")).float().mean() > 0.05  # the back of the head
    below = [LABEL_NAMES.index(p) for p in ("upper_leg.L", "upper_leg.R", "foot.L", "foot.R")]
    assert not torch.isin(labels, torch.tensor(below)).any()
    is_head = (labels == PART_NAMES.index("head")) | (labels == LABEL_NAMES.index("hair"))
    assert 0.1 < is_head[:views].float().mean() < 0.6  # smaller than a head rig's, larger than a body rig's
    with torch.no_grad():
        verts = body(spec.params).vertices[0]
    focus = rig_focus(body, verts, "portrait")
    def rows_in(rows, table):
        return (rows[:, None, :] == table[None]).all(-1).any(-1)

    assert len(focus) < len(verts) and rows_in(verts[body.head_vertex_mask()], focus).all()
    hands = torch.isin(body.vertex_parts, torch.tensor([PART_NAMES.index("hand.L"), PART_NAMES.index("hand.R")]))
    assert not rows_in(verts[hands], focus).any()  # a raised hand never widens the frame
