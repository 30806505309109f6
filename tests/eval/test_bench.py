import math

import numpy as np
import pytest
import torch

from humanmv.cameras import Cameras, look_at, orbit_cameras
from humanmv.errors import ConfigError
from humanmv.eval.bench import Bench, SubjectResult, check_split, split_folders
from humanmv.eval.identity_metrics import head_box
from humanmv.cameras import align_to_fit
from humanmv.views import Views
from humanmv.eval.report import results_markdown, summarise


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
    aligned = align_to_fit(targets, input_gt, input_fit, gt_depth=1.0, fit_depth=s)
    assert torch.allclose(torch.det(aligned.world_to_cam[:, :3, :3]), torch.ones(3), atol=1e-5)
    expected, _ = targets.project(points_gt)
    got, _ = aligned.project(points_fit)
    assert torch.allclose(expected, got, atol=1e-2)


def _row(name, psnr, face, cos, error=None):
    r = SubjectResult(name, "prior", 1.0, [0.0, 180.0], psnr, [0.9, 0.8], [0.8, 0.7], error=error)
    r.face, r.cos_to_input = face, cos
    r.dist_to_input = [None if c is None else 0.5 for c in cos]
    r.csim = [None, None]
    r.input_has_face = True
    r.identity = {"O2OID": {"available": False, "value": None, "count": None}}
    r.pairs, r.pair_psnr, r.pair_o2oid = [(0, 1), (1, 0)], None, [None, None]
    return r


def test_summary_and_tables_say_what_was_not_computed():
    rows = [_row("a", [20.0, 18.0], [True, False], [0.9, None]),
            _row("b", [22.0, 16.0], [False, False], [None, None]),
            SubjectResult("c", "prior", 0.0, [], [], [], [], error="no person")]
    summary = summarise(rows)["prior"]
    assert summary["subjects"] == 2 and summary["failed"] == 1
    assert summary["failures"] == [{"subject": "c", "error": "no person"}]
    assert summary["all"]["psnr"]["mean"] == 19.0 and summary["back"]["psnr"]["mean"] == 17.0
    assert summary["front"]["psnr"]["mean"] == 21.0
    # faces: one face view of four, counted; I2OID from it alone; Re-ID on it
    assert summary["all"]["face_views"] == 1 and summary["all"]["views"] == 4
    assert summary["all"]["i2oid"]["mean"] == pytest.approx(0.9) and summary["all"]["i2oid"]["count"] == 1
    assert summary["all"]["reid_match"]["mean"] == 1.0
    assert summary["back"]["i2oid"]["short"] == "n/a (no face detected)"
    text = results_markdown({"prior": summary})
    assert "| prior | 19.000 ± 0.000 |" in text  # both subjects average 19 dB
    assert "unavailable: pass --lpips-weights" in text and "unavailable: pass --inception-weights" in text
    assert "unavailable: pass --clip-weights" in text and "n/a (no depth)" in text
    assert "| 1 of 4 |" in text and "prior on c: no person" in text


def test_no_face_anywhere_is_reported_not_faked():
    rows = [_row("a", [20.0, 18.0], [False, False], [None, None])]
    s = summarise(rows)["prior"]
    for k in ("i2oid", "reid_match", "reid_dist", "o2oid"):
        assert s["all"][k]["short"] == "n/a (no face detected)"
    assert "| 0 of 2 |" in results_markdown({"prior": s})


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown --method 'magic'; available: copy-input, prior, mvdiff"):
        Bench(["magic"])
    with pytest.raises(ConfigError, match="unknown option mvdiff.stepz"):
        Bench(["mvdiff[stepz=2]"])


def test_head_box_is_the_top_of_the_silhouette():
    mask = np.zeros((200, 100), bool)
    mask[25:175, 40:60] = True  # a 150 px tall "person"
    x0, y0, x1, y1 = head_box(mask)
    assert y0 == 25 and y1 == pytest.approx(45) and (x0 + x1) / 2 == pytest.approx(50)
    assert head_box(np.zeros((8, 8))) is None


@pytest.fixture(scope="module")
def split(bench_split):
    return bench_split


class _Oracle:
    """A predictor that returns the ground truth itself (with its depth)."""

    def __call__(self, gt, name):
        C = len(gt.cameras) - 1
        v = gt[list(range(C))]
        return Views(v.cameras, rgb=v.rgb, mask=v.mask, depth=v.depth)


def test_the_runner_scores_any_predictor(split):
    folders = split_folders(split, "auto")  # a *-bench dataset: every subject
    check_split(folders)
    from humanmv.eval.nets import MetricNets
    from humanmv.eval.stlpips_weights import load_stlpips

    bench = Bench(["copy-input"], nets=MetricNets(st_lpips=load_stlpips("alex")))
    bench.methods.append("oracle")
    bench.predictors["oracle"] = _Oracle()
    results, inputs = bench.run_split(folders)
    copy, oracle = results
    assert copy.method == "copy-input" and copy.pair_psnr is None and len(copy.psnr) == 5
    assert all(math.isinf(v) for v in oracle.psnr) and all(v == 1.0 for v in oracle.iou)
    assert oracle.pairs == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]  # by azimuth (0..345), round the ring
    assert all(p is not None and p > 25 for p in oracle.pair_psnr), oracle.pair_psnr
    assert len(oracle.face) == 5 and oracle.input_has_face is not None
    faces = sum(oracle.face)  # the ground truth's own faces are found again in the same views
    assert sum(c is not None for c in oracle.csim) == faces
    assert all(abs(c - 1) < 1e-6 for c in oracle.csim if c is not None)
    s = summarise(results)
    assert s["oracle"]["consistency"]["reprojection_psnr"]["count"] == 5
    assert s["copy-input"]["consistency"]["reprojection_psnr"]["short"] == "n/a (no depth)"
    assert set(inputs) == {folders[0].name}
    # Face crops: the oracle's are the ground truth's, copy-input's (the photo in every view) are not.
    assert oracle.face_crop_psnr == [100.0] * 5 and all(v == pytest.approx(1.0) for v in oracle.face_crop_ssim)
    assert all(v < 1e-6 for v in oracle.face_crop_st_lpips)
    assert all(c < 40 for c in copy.face_crop_psnr[1:])
    crops = s["oracle"]["face_crops"]
    assert crops["views_side"] == 2 and crops["views_all"] == 5  # az 30 and 330 are side views
    assert s["copy-input"]["face_crops"]["psnr_all"]["mean"] < crops["psnr_all"]["mean"]
    assert "Face crops against ground truth" in results_markdown(s)
    # The Fréchet distance on ST-LPIPS trunk features: 0 for the ground truth itself.
    assert abs(s["oracle"]["all"]["frechet_st"]["value"]) < 1e-3
    assert s["copy-input"]["all"]["frechet_st"]["value"] > 0.01
    assert "Fréchet (ST-LPIPS features) front" in results_markdown(s)
    assert oracle.hair_iou is None or all(v is None for v in oracle.hair_iou)  # a body bench without hair shells


def test_a_missing_view_file_is_found_before_any_work(split, tmp_path):
    import shutil

    broken = tmp_path / "ds"
    shutil.copytree(split, broken)
    folder = split_folders(broken, "all")[0]
    (folder / "mask" / "022.png").unlink()
    with pytest.raises(ConfigError, match=r"mask/022\.png: missing view file"):
        check_split([folder])


def test_comparison_figure_skips_photos_whose_input_it_was_not_given():
    """A photo that failed every method is not in the figure's inputs: the next one is shown."""
    from humanmv.eval.report import comparison_figure

    views = torch.rand(4, 16, 16, 3)
    ok = SubjectResult("b.jpg", "prior", 1.0, [0, 90, 180, 270], [], [], [], views=views)
    late = SubjectResult("c.jpg", "prior", 1.0, [0, 90, 180, 270], [], [], [], views=views)
    failed = SubjectResult("a.jpg", "prior", 0.0, [], [], [], [], error="no body")
    figure = comparison_figure([failed, ok, late], {"b.jpg": (torch.rand(20, 10, 3), None)}, subjects=4)
    assert figure.ndim == 3 and figure.shape[2] == 3
    assert figure.shape[0] < 2 * 16 + 8  # one row: b.jpg only
