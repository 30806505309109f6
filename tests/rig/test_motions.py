"""The built-in clips move what they claim and loop; motion files follow their documented format
(axis-angle and quaternion, world and Anny axes) and every mistake is one line naming it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.errors import ConfigError


def _part(body, *names: str) -> torch.Tensor:
    return torch.isin(body.vertex_parts, torch.tensor([PART_NAMES.index(n) for n in names]))


def _play(rig, name: str, n: int = 24) -> torch.Tensor:
    from humanmv.rig import animate_vertices

    clip = rig.clips[name]
    return animate_vertices(rig, clip, torch.linspace(0, clip.duration, n + 1)[:-1].double())


def test_builtin_clips_loop_without_a_jump(rig):
    for name in ("idle", "walk", "wave"):
        clip = rig.clips[name]
        assert clip.loop and clip.keys > 20 and clip.duration > 0.9
        assert torch.allclose(clip.rotations[0], clip.rotations[-1]) and torch.equal(clip.translations[0], clip.translations[-1])
        assert (clip.morph == 0).all()
        frames = _play(rig, name, 48)
        steps = (frames[1:] - frames[:-1]).norm(dim=-1).amax(-1)
        closing = (frames[0] - frames[-1]).norm(dim=-1).max()
        assert closing < 2.5 * steps.max(), name  # the wrap is a step like any other
        assert torch.allclose(clip.times, torch.arange(clip.keys, dtype=torch.float64) / 24.0)


def test_walk_swings_the_legs_in_turn_and_the_arms_against_them(body, rig):
    frames = _play(rig, "walk")
    foot_l, foot_r = (frames[:, _part(body, f"foot.{s}")].mean(1) for s in "LR")
    hand_l, hand_r = (frames[:, _part(body, f"hand.{s}")].mean(1) for s in "LR")
    stride = foot_l[:, 2] - foot_r[:, 2]  # forward (+z) distance of the left foot over the right
    assert stride.max() > 0.3 and stride.min() < -0.3  # each foot leads in turn, by a real step
    assert torch.corrcoef(torch.stack([stride, hand_l[:, 2] - hand_r[:, 2]]))[0, 1] < -0.9
    assert (foot_l[:, 1].min() - foot_r[:, 1].min()).abs() < 0.03  # both feet reach the same floor
    head = frames[:, _part(body, "head")].mean(1)
    assert head[:, 1].max() - head[:, 1].min() < 0.06  # a bob, not a jump


def test_wave_moves_the_right_hand_above_the_head_and_nothing_below_the_waist(body, rig):
    frames = _play(rig, "wave")
    hand = frames[:, _part(body, "hand.R")].mean(1)
    head = frames[:, _part(body, "head")].mean(1)
    assert (hand[:, 1] > head[:, 1]).all()  # raised
    assert hand[:, 0].max() - hand[:, 0].min() > 0.15  # waving side to side
    legs = _part(body, "upper_leg.L", "lower_leg.L", "foot.L", "upper_leg.R", "lower_leg.R", "foot.R")
    assert (frames[:, legs] - frames[:1, legs]).abs().max() < 1e-5
    assert (head - head[:1]).norm(dim=1).max() < 1e-3


def test_idle_moves_a_little(body, rig):
    frames = _play(rig, "idle")
    moved = (frames - frames[:1]).norm(dim=-1)
    assert 0.01 < float(moved.max()) < 0.12
    hands = _part(body, "hand.L", "hand.R")
    lowered = frames[:, hands, 1].mean(1) - rig.vertices[hands, 1].mean()
    assert (lowered < -0.05).all()  # the arms hang lower than in Anny's A-pose


# ---- motion files -----------------------------------------------------------------------------
def _write(tmp_path: Path, data, name: str = "motion.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


NOD = {"format": "humanmv.motion", "version": 1, "fps": 12, "rotation": "axis_angle",
       "frames": [{"bones": {"head": [0.4, 0.0, 0.0], "upperarm01.R": [0.0, 0.0, -1.0]}},
                  {"bones": {"head": [0.0, 0.0, 0.0]}, "root_translation": [0.0, 0.02, 0.0]}]}


def test_motion_file_forms_agree(tmp_path, rig):
    from humanmv.rig import load_motion, motion_to_clip

    world = load_motion(_write(tmp_path, NOD), rig.joint_names)
    assert (world.name, world.fps, world.loop, world.bones, world.frames) == ("motion", 12.0, True, ["head", "upperarm01.R"], 2)
    half = math.sin(0.2), math.cos(0.2)
    quaternion = {**NOD, "rotation": "quaternion", "name": "nod", "frames": [
        {"bones": {"head": [half[0], 0, 0, half[1]], "upperarm01.R": [0, 0, -math.sin(0.5), math.cos(0.5)]}},
        {"bones": {"head": [0, 0, 0, 1]}, "root_translation": [0, 0.02, 0]}]}
    quat = load_motion(_write(tmp_path, quaternion, "q.json"), rig.joint_names)
    assert quat.name == "nod" and torch.allclose(quat.rotations, world.rotations, atol=1e-12)
    # Anny's axes (x left, y back, z up): world (x, y, z) is Anny (x, -z, y)
    anny = {**NOD, "axes": "anny", "frames": [
        {"bones": {"head": [0.4, 0, 0], "upperarm01.R": [0, 1.0, 0]}},
        {"bones": {"head": [0, 0, 0]}, "root_translation": [0, 0, 0.02]}]}
    other = load_motion(_write(tmp_path, anny, "a.json"), rig.joint_names)
    assert torch.allclose(other.rotations, world.rotations, atol=1e-12)
    assert torch.allclose(other.root_translation, world.root_translation)
    clip = motion_to_clip(rig, world)
    assert clip.keys == 3 and abs(clip.duration - 2 / 12) < 1e-6  # a closing key for the loop
    head = rig.joint_names.index("head")
    assert not torch.allclose(clip.rotations[0, head], clip.rotations[1, head])
    assert torch.allclose(clip.translations[1, 0] - clip.translations[0, 0], torch.tensor([0, 0.02, 0.0]), atol=1e-6)


def test_a_motion_file_moves_only_what_it_names(tmp_path, body, rig):
    from humanmv.rig import animate_vertices, load_motion, motion_to_clip

    data = {**NOD, "loop": False, "frames": [{"bones": {}}, {"bones": {"upperarm01.R": [0, 0, -1.2]}}]}
    clip = motion_to_clip(rig, load_motion(_write(tmp_path, data), rig.joint_names))
    assert not clip.loop and clip.keys == 2
    start, end = animate_vertices(rig, clip, torch.tensor([0.0, 10.0]))  # holds its last key
    assert (start - rig.vertices).abs().max() < 1e-5  # frame 0 is pose zero: the bind mesh
    moved = (end - start).norm(dim=1)
    arm = _part(body, "upper_arm.R", "lower_arm.R", "hand.R")
    assert moved[arm].max() > 0.3 and moved[_part(body, "head", "upper_leg.L", "foot.R", "hand.L")].max() < 1e-5
    hand = end[_part(body, "hand.R")].mean(0)
    assert hand[1] > start[_part(body, "hand.R")].mean(0)[1] + 0.3  # -z about the forward axis raises the right arm


BAD = [
    ("not json", "{", "not a readable JSON"),
    ("no format", {"fps": 24, "frames": []}, 'no "format": "humanmv.motion"'),
    ("version", {**NOD, "version": 2}, "version must be 1"),
    ("fps", {**NOD, "fps": 0}, "fps must be a number in (0, 1000]"),
    ("fps type", {**NOD, "fps": "24"}, "fps must be a number"),
    ("rotation", {**NOD, "rotation": "euler"}, 'rotation must be "axis_angle" or "quaternion"'),
    ("axes", {**NOD, "axes": "z-up"}, 'axes must be "world" or "anny"'),
    ("loop", {**NOD, "loop": "yes"}, "loop must be true or false"),
    ("no frames", {**NOD, "frames": []}, "frames must be a list of 1 to 100000"),
    ("unknown key", {**NOD, "speed": 2}, "unknown key 'speed'"),
    ("frame key", {**NOD, "frames": [{"bone": {}}]}, 'frame 0: must be an object with "bones"'),
    ("bone", {**NOD, "frames": [{"bones": {"upperarm.R": [0, 0, 1]}}]}, "frame 0: 'upperarm.R' is not a bone of the rig"),
    ("length", {**NOD, "frames": [{"bones": {}}, {"bones": {"head": [0, 1]}}]}, "frame 1: bone 'head' needs 3 finite numbers"),
    ("nan", {**NOD, "frames": [{"bones": {"head": [0, float("nan"), 0]}}]}, "frame 0: bone 'head' needs 3 finite numbers"),
    ("zero quaternion", {**NOD, "rotation": "quaternion", "frames": [{"bones": {"head": [0, 0, 0, 0]}}]}, "a non-zero quaternion"),
    ("translation", {**NOD, "frames": [{"bones": {}, "root_translation": [0, 1]}]}, "frame 0: root_translation must be 3 finite numbers"),
]


@pytest.mark.parametrize("label,data,message", BAD, ids=[b[0] for b in BAD])
def test_bad_motion_files_are_one_line_errors(tmp_path, rig, label, data, message):
    from humanmv.rig import load_motion

    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_motion(path, rig.joint_names)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text


def test_a_missing_motion_file_says_what_to_give(tmp_path, rig):
    from humanmv.rig import load_motion

    with pytest.raises(ConfigError, match="motion file not found; give walk, wave, idle or a motion JSON file"):
        load_motion(tmp_path / "none.json", rig.joint_names)
