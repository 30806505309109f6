"""Perception on the example photos: mask, keypoints, face landmarks, identity, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from humanmv.errors import NoPersonError
from humanmv.io.images import load_image
from humanmv.perception import (
    COCO_KEYPOINT_NAMES,
    Perception,
    Perceiver,
    person_bbox,
)
from humanmv.perception.keypoints import COCO_FROM_MEDIAPIPE, MEDIAPIPE_POSE_NAMES
from humanmv.perception.segmentation import count_people, find_people, person_mask

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def perceiver() -> Perceiver:
    p = Perceiver()
    yield p
    p.close()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load_image(EXAMPLES / "astronaut.jpg").rgb


@pytest.fixture(scope="module")
def grace() -> np.ndarray:
    return load_image(EXAMPLES / "grace_hopper.jpg").rgb


@pytest.fixture(scope="module")
def seen(perceiver: Perceiver, astronaut: np.ndarray, grace: np.ndarray) -> dict[str, Perception]:
    return {
        "astronaut": perceiver.perceive(astronaut, need_face=True, name="astronaut.jpg"),
        "grace": perceiver.perceive(grace, need_face=True, name="grace_hopper.jpg"),
    }


@pytest.mark.parametrize("which", ["astronaut", "grace"])
def test_mask_covers_the_person(seen: dict[str, Perception], which: str) -> None:
    p = seen[which]
    assert p.mask.shape == (p.height, p.width) and p.mask.dtype == np.float32
    assert 0.0 <= float(p.mask.min()) and float(p.mask.max()) <= 1.0
    area = float(p.binary.mean())
    assert 0.25 < area < 0.8, area  # an upper-body portrait, not the whole frame
    cx, cy = ((p.face.box[:2] + p.face.box[2:]) / 2).astype(int)
    assert p.binary[cy, cx], "the face centre is on the person"
    x0, y0, x1, y1 = p.bbox
    assert y1 == p.height, "an upper-body photo: the person reaches the bottom edge"
    assert x0 <= p.face.box[0] and p.face.box[2] <= x1
    assert p.n_people == 1 and p.mask_source == "pose"
    assert p.binary[:5, :5].sum() == 0, "top-left corner is background"


def test_astronaut_mask_excludes_the_background_shuttle(seen: dict[str, Perception]) -> None:
    p = seen["astronaut"]
    assert p.binary[20:120, 400:460].mean() < 0.05  # the shuttle model, top right


@pytest.mark.parametrize("which", ["astronaut", "grace"])
def test_keypoints_agree_with_face(seen: dict[str, Perception], which: str) -> None:
    p = seen[which]
    kp, face = p.keypoints, p.face
    assert kp.xy.shape == (33, 2) and kp.visibility.shape == (33,) and kp.world.shape == (33, 3)
    nose = kp.xy[MEDIAPIPE_POSE_NAMES.index("nose")]
    assert np.linalg.norm(nose - face.nose_tip) < 0.2 * face.size
    xy, conf = kp.coco()
    assert xy.shape == (23, 2) and conf.shape == (23,) and len(COCO_KEYPOINT_NAMES) == 23
    names = COCO_KEYPOINT_NAMES
    # a frontal photo: the person's left shoulder is on the image's right
    assert xy[names.index("left_shoulder"), 0] > xy[names.index("right_shoulder"), 0]
    assert conf[names.index("nose")] > 0.9 and conf[names.index("left_eye")] > 0.9
    assert conf[names.index("left_small_toe")] == 0 and conf[names.index("right_small_toe")] == 0
    # upper-body photos: the ankles are guessed outside the image, so confidence 0
    assert conf[names.index("left_ankle")] == 0 and conf[names.index("right_ankle")] == 0
    assert ((conf > 0) <= kp.inside()[np.maximum(COCO_FROM_MEDIAPIPE, 0)]).all()


def test_perception_coco_accessors(seen: dict[str, Perception]) -> None:
    p = seen["grace"]
    assert p.name == "grace_hopper.jpg" and p.image_size == (512, 600)
    assert p.coco_names == COCO_KEYPOINT_NAMES
    xy, conf = p.keypoints.coco()
    assert np.array_equal(p.coco_xy, xy) and np.array_equal(p.coco_confidence, conf)
    assert set(p.timings) >= {"pose", "segmentation", "face_mesh", "dlib_identity"}


def test_coco_mapping() -> None:
    mp = [MEDIAPIPE_POSE_NAMES[i] if i >= 0 else None for i in COCO_FROM_MEDIAPIPE]
    assert mp[COCO_KEYPOINT_NAMES.index("left_big_toe")] == "left_foot_index"
    assert mp[COCO_KEYPOINT_NAMES.index("right_heel")] == "right_heel"
    assert mp[COCO_KEYPOINT_NAMES.index("left_small_toe")] is None
    for coco_name, mp_name in zip(COCO_KEYPOINT_NAMES, mp):
        if mp_name is not None and "toe" not in coco_name:
            assert coco_name == mp_name


@pytest.mark.parametrize("which", ["astronaut", "grace"])
def test_face_landmarks(seen: dict[str, Perception], which: str) -> None:
    p = seen[which]
    face, ident = p.face, p.identity
    assert face.xy.shape == (478, 2) and face.z.shape == (478,) and np.isfinite(face.z).all()
    assert face.n_faces == 1
    # all 478 points inside dlib's face box grown by half its size (two detectors agree)
    b = ident.box
    grow = 0.5 * (b[2:] - b[:2])
    assert (face.xy >= b[:2] - grow).all() and (face.xy <= b[2:] + grow).all()
    # 68-point landmarks inside the FaceMesh box grown by 10%
    g = 0.1 * (face.box[2:] - face.box[:2])
    assert (ident.landmarks68 >= face.box[:2] - g).all() and (ident.landmarks68 <= face.box[2:] + g).all()
    # relative depth in pixels: the nose tip is nearer the camera than the face outline
    assert face.z[1] < np.median(face.z) and np.ptp(face.z) > 0.1 * face.size


def test_identity_embeddings(
    perceiver: Perceiver, seen: dict[str, Perception], astronaut: np.ndarray
) -> None:
    a, g = seen["astronaut"].identity, seen["grace"].identity
    for ident in (a, g):
        assert ident.embedding.shape == (128,) and ident.embedding.dtype == np.float32
        assert 0.8 < float(np.linalg.norm(ident.embedding)) < 2.0  # dlib's are ~1.4, not unit
        assert ident.landmarks68.shape == (68, 2) and ident.chip.shape == (150, 150, 3)
    assert a.distance(g) > 0.6, "different people"
    again = perceiver.identifier.identify(astronaut, tuple(seen["astronaut"].face.box))
    assert again.distance(a) < 1e-4, "same photo, same embedding"


def test_small_face_found_through_the_crop(
    perceiver: Perceiver, seen: dict[str, Perception], astronaut: np.ndarray
) -> None:
    small = cv2.resize(astronaut, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512, 3), 128, np.uint8)
    h, w = small.shape[:2]
    canvas[512 - h :, 100 : 100 + w] = small
    assert perceiver.mesher.detect(canvas) is None, "FaceMesh alone misses a ~30 px face"
    p = perceiver.perceive(canvas, need_face=True)
    assert p.face is not None and p.face.size < 60
    assert np.linalg.norm(p.keypoints.xy[0] - p.face.nose_tip) < 0.3 * p.face.size
    assert p.identity is not None and p.identity.distance(seen["astronaut"].identity) < 0.6


def test_blank_image_has_no_person(perceiver: Perceiver) -> None:
    with pytest.raises(NoPersonError) as info:
        perceiver.perceive(np.full((256, 256, 3), 128, np.uint8), name="blank.png")
    assert str(info.value) == (
        "no person found in blank.png: use a photo where one person is clearly visible"
    )


def test_need_face_without_a_face(perceiver: Perceiver, astronaut: np.ndarray) -> None:
    painted = astronaut.copy()
    painted[40:200, 140:310] = (200, 100, 50)  # paint over the head
    with pytest.raises(NoPersonError) as info:
        perceiver.perceive(painted, need_face=True, name="noface.jpg")
    assert str(info.value).startswith("no face found in noface.jpg:")
    assert "--mode body" in str(info.value)
    # BlazePose's detector keys on the face too, so without one it finds no pose either:
    # need_body then refuses (nothing to fit), and without it the selfie mask still finds
    # the person.
    with pytest.raises(NoPersonError, match="no body or face found in noface.jpg"):
        perceiver.perceive(painted, need_face=False, name="noface.jpg")
    mask_only = perceiver.perceive(painted, need_face=False, need_body=False)
    assert mask_only.face is None and mask_only.identity is None and mask_only.keypoints is None
    assert mask_only.mask_source == "selfie" and mask_only.binary.mean() > 0.2
    assert mask_only.coco_xy.shape == (23, 2) and not mask_only.coco_confidence.any()


def test_two_people_warns_and_picks_one(
    perceiver: Perceiver, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    gap = np.full((512, 32, 3), 128, np.uint8)
    both = np.concatenate([astronaut, gap, astronaut], axis=1)  # 1056 px wide
    with caplog.at_level(logging.WARNING, logger="humanmv"):
        p = perceiver.perceive(both, need_face=True, name="pair.jpg")
    assert any("several people found in pair.jpg" in r.getMessage() for r in caplog.records)
    assert p.n_people == 2
    x0, _, x1, _ = p.bbox
    assert x1 - x0 < 560, "one person's mask, not both"
    half = slice(0, 528) if x1 <= 544 else slice(528, 1056)
    assert p.binary[:, half].sum() == p.binary.sum()
    nose_x = p.keypoints.xy[0, 0]
    assert x0 <= nose_x <= x1 and x0 <= p.face.nose_tip[0] <= x1, "all outputs on that person"


def test_smaller_second_person_by_pose_is_replaced_by_the_largest(
    perceiver: Perceiver, grace: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    h, w = grace.shape[:2]
    small = cv2.resize(grace, (int(w * 0.7), int(h * 0.7)), interpolation=cv2.INTER_AREA)
    left = np.full_like(grace, 128)
    left[h - small.shape[0] :, (w - small.shape[1]) // 2 : (w - small.shape[1]) // 2 + small.shape[1]] = small
    img = np.concatenate([left, np.full((h, 40, 3), 128, np.uint8), grace], axis=1)
    with caplog.at_level(logging.WARNING, logger="humanmv"):
        p = perceiver.perceive(img)
    assert any("several people" in r.getMessage() for r in caplog.records)
    assert p.bbox[0] >= w, "the larger person, on the right"
    assert p.keypoints.xy[0, 0] > w + 40 and p.face.nose_tip[0] > w + 40


def test_person_mask_keeps_largest_and_anchored_parts() -> None:
    soft = np.zeros((100, 100), np.float32)
    soft[10:60, 10:40] = 0.9  # body
    soft[70:80, 10:20] = 0.8  # detached hand
    soft[20:50, 70:90] = 0.7  # someone else
    pm = person_mask(soft, anchors=np.array([[15.0, 75.0]]))
    assert pm.binary[30, 20] and pm.binary[75, 15] and not pm.binary[30, 80]
    assert pm.soft[30, 80] == 0.0
    people = find_people(soft)
    assert [c.area for c in people] == [1500, 600, 100] and count_people(people) == 2
    assert person_bbox(pm.soft) == (10, 10, 40, 80)
    assert person_bbox(np.zeros((5, 5), bool)) is None


def test_warm_up_and_reuse(perceiver: Perceiver) -> None:
    model = perceiver.pose._get()
    perceiver.warm_up()
    assert perceiver.pose._get() is model, "models are loaded once and reused"


def test_perceive_rejects_bad_arrays(perceiver: Perceiver) -> None:
    with pytest.raises(ValueError):
        perceiver.perceive(np.zeros((64, 64), np.uint8))
