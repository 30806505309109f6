"""A real photo cut at the thighs (messi5.jpg, from the Debian package opencv-doc; the test
set-up fetches it with scripts/fetch_example_photos.sh): the legs it does not show stay straight
and neutral, and fit.json says they were not seen."""

from __future__ import annotations

import math

import numpy as np
import pytest

from humanmv.body.anny_model import POSE_BONES
from humanmv.paths import cache_dir

LEG_BONES = [b for b in POSE_BONES if b.startswith(("upperleg", "lowerleg", "foot"))]


@pytest.fixture(scope="module")
def pipe():
    from humanmv.pipelines.fitting import FitPipeline

    return FitPipeline()


def test_thigh_crop_keeps_unseen_legs_neutral(pipe, body):
    from humanmv.io.images import LoadedImage, load_image
    from humanmv.pipelines.fitting import fit_summary

    path = cache_dir() / "examples" / "messi5.jpg"
    assert path.is_file(), "run `bash scripts/setup.sh --test-clients` (it fetches the example photos)"
    full = load_image(path)
    seen = pipe.perceiver.perceive(full.rgb, need_identity=False)
    names, xy = seen.coco_names, seen.coco_xy
    hip = (xy[names.index("left_hip"), 1] + xy[names.index("right_hip"), 1]) / 2
    knee = (xy[names.index("left_knee"), 1] + xy[names.index("right_knee"), 1]) / 2
    crop = LoadedImage(np.ascontiguousarray(full.rgb[: int(hip + 0.5 * (knee - hip))]), None, path)

    pf = pipe(crop, mode="body")
    summary = fit_summary(pf, pipe.body)
    parts = summary["parts_seen"]
    assert parts["torso"] and parts["upper_arm.L"] and parts["upper_arm.R"]
    assert not any(parts[p] for p in ("upper_leg.L", "lower_leg.L", "foot.L", "upper_leg.R", "lower_leg.R", "foot.R"))
    pose = pf.fit.params.pose[0]
    worst = max(math.degrees(float(pose[POSE_BONES.index(b)].norm())) for b in LEG_BONES)
    assert worst <= 10.0, worst  # straight, within 10 degrees of the neutral pose
    assert pf.silhouette_iou > 0.6  # and the upper body still fits the photo
    axes = summary["params"]["pose_axis_angle"]
    assert all(np.abs(axes[b]).max() < 1e-6 for b in LEG_BONES)  # fit.json says so too
