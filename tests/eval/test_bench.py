import math

import torch

from humanmv.cameras import Cameras, look_at, orbit_cameras
from humanmv.eval.bench import align_cameras, results_markdown, summarise, SubjectResult


def _rotation_y(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_aligned_targets_see_the_fit_as_the_ground_truth_targets_see_the_subject():
    """A subject known only up to a similarity (rotated, scaled, moved): the aligned target
    cameras project the fit's points exactly where the true targets project the true points."""
    torch.manual_seed(0)
    points_gt = torch.randn(50, 3) * 0.3
    targets = orbit_cameras([0.0, 90.0, 200.0], 10.0, 3.0, 40.0, 128, 128)
    input_gt = Cameras(targets.K[:1].clone(), look_at(torch.tensor([[0.5, 0.2, 2.8]]), torch.zeros(1, 3)), 128, 128)
    # The fit's frame: p_fit = s R p_gt + t; its input camera sees the fit exactly like the photo.
    s, R, t = 0.8, _rotation_y(35.0), torch.tensor([0.1, -0.2, 0.05])
    points_fit = s * points_gt @ R.T + t
    # world-to-camera of the fit's input camera: C_fit = D^-1 C_gt S^-1 (D scales camera space by s)
    S = torch.eye(4)
    S[:3, :3], S[:3, 3] = s * R, t
    C_fit = input_gt.world_to_cam[0] @ torch.linalg.inv(S)
    C_fit[:3, :] *= s  # back to a rigid transform: the fit's camera distance is s times the truth
    input_fit = Cameras(input_gt.K.clone(), C_fit[None], 128, 128)
    p_in_gt, _ = input_gt.project(points_gt)
    p_in_fit, _ = input_fit.project(points_fit)
    assert torch.allclose(p_in_gt, p_in_fit, atol=1e-3)  # same photo
    aligned = align_cameras(targets, input_gt, input_fit, depth_ratio=1 / s)
    assert torch.allclose(torch.det(aligned.world_to_cam[:, :3, :3]), torch.ones(3), atol=1e-5)
    expected, _ = targets.project(points_gt)
    got, _ = aligned.project(points_fit)
    assert torch.allclose(expected, got, atol=1e-2)


def test_summary_and_table():
    rows = [SubjectResult("a", "prior", 1.0, [0.0, 180.0], [20.0, 18.0], [0.9, 0.8], [0.8, 0.7]),
            SubjectResult("b", "prior", 1.0, [0.0, 180.0], [22.0, 16.0], [0.9, 0.7], [0.9, 0.6]),
            SubjectResult("c", "prior", 0.0, [], [], [], [], error="no person")]
    summary = summarise(rows)["prior"]
    assert summary["subjects"] == 2 and summary["failed"] == 1
    assert summary["all_psnr"]["mean"] == 19.0 and summary["back_psnr"]["mean"] == 17.0
    assert "| prior | 2 |" in results_markdown({"prior": summary})


def test_unknown_method_is_a_clear_error():
    import pytest

    from humanmv.errors import ConfigError
    from humanmv.eval.bench import Bench

    with pytest.raises(ConfigError, match="unknown --method 'magic'; available: copy-input, prior"):
        Bench(["magic"])
