import numpy as np
import pytest
import torch

from humanmv.body.fitting import FitConfig, FitTargets, fit_body
from humanmv.body.sampling import sample_body_params, sample_photo_camera
from humanmv.errors import NoPersonError


def _synthetic_photo(body, renderer, seed, size=256):
    rng = np.random.default_rng(seed)
    params = sample_body_params(rng)
    with torch.no_grad():
        gt = body(params)
    v = gt.vertices[0]
    centre = (v.min(0).values + v.max(0).values) / 2
    cam = sample_photo_camera(rng, centre, float((v - centre).norm(dim=-1).max()), size, size)
    mask = renderer.render(body.mesh(v), cam, outputs=("mask",)).mask[0]
    kp, _ = cam.project(gt.keypoints[0])
    return kp[0], mask, cam


def test_fit_recovers_keypoints_and_silhouette(body, renderer):
    kp, mask, _ = _synthetic_photo(body, renderer, seed=3)
    conf = np.ones(len(kp), np.float32)
    fit = fit_body(body, FitTargets(256, 256, kp.numpy(), conf, mask.numpy()))
    err = float((fit.keypoints_2d - kp).norm(dim=-1).mean()) / 256
    assert err < 0.02
    fitted = renderer.render(body.mesh(fit.vertices), fit.camera, outputs=("mask",)).mask[0] > 0.5
    iou = float(((mask > 0.5) & fitted).sum() / ((mask > 0.5) | fitted).sum())
    assert iou > 0.8
    assert fit.camera.width == 256 and len(fit.camera) == 1
    assert 0 <= float(fit.params.phenotype.min()) and float(fit.params.phenotype.max()) <= 1


def test_fit_is_deterministic(body, renderer):
    kp, mask, _ = _synthetic_photo(body, renderer, seed=5, size=128)
    targets = FitTargets(128, 128, kp.numpy(), np.ones(len(kp), np.float32), mask.numpy())
    cfg = FitConfig(iterations=40, camera_iterations=10)
    a, b = fit_body(body, targets, cfg), fit_body(body, targets, cfg)
    assert torch.equal(a.vertices, b.vertices)


def test_partial_body_portrait_fits_the_visible_points(body, renderer):
    """Only head and shoulders visible (a portrait): the fit must still place them."""
    kp, mask, _ = _synthetic_photo(body, renderer, seed=7)
    conf = np.zeros(len(kp), np.float32)
    visible = [body.keypoint_names.index(n) for n in
               ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder")]
    conf[visible] = 1
    fit = fit_body(body, FitTargets(256, 256, kp.numpy(), conf, None), FitConfig(iterations=100))
    err = float((fit.keypoints_2d[visible] - kp[visible]).norm(dim=-1).mean()) / 256
    assert err < 0.02


def test_too_few_keypoints_is_a_clear_error(body):
    conf = np.zeros(len(body.keypoint_names), np.float32)
    conf[:2] = 1
    with pytest.raises(NoPersonError, match="too few body keypoints"):
        fit_body(body, FitTargets(64, 64, np.zeros((len(conf), 2)), conf))
