"""body_rays on a real Anny body: the rendered mask and labels, exact hit points, inverse LBS that
undoes the pose, and samples in the shell around the surface along each ray."""

from __future__ import annotations

import pytest
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.cameras import orbit_cameras
from humanmv.models.gan3d import (PosedBody, ShellSamples, rest_vertices, shell_distances, shell_samples,
                                  vertex_blend_matrices)

DELTA = 0.04
ARM = (PART_NAMES.index("upper_arm.L"), PART_NAMES.index("lower_arm.L"), PART_NAMES.index("hand.L"))


@pytest.fixture(scope="module")
def posed(body, raised_arm):
    return PosedBody.from_anny(body, raised_arm)


@pytest.fixture(scope="module")
def rest(body, raised_arm):
    return rest_vertices(body, raised_arm)[0]


@pytest.fixture(scope="module")
def camera():
    # 30 degrees round to the subject's left: the raised left arm is in view.
    return orbit_cameras([30.0], 5.0, distance=3.2, fov_deg=40.0, width=32, height=64)


def _arm_pixels(samples: ShellSamples) -> torch.Tensor:
    return torch.isin(samples.labels, torch.tensor(ARM))


def test_blend_matrices_take_rest_vertices_to_the_posed_ones(body, posed, rest):
    back = torch.einsum("vij,vj->vi", posed.blend[:, :3, :3], rest) + posed.blend[:, :3, 3]
    assert float((back - posed.vertices).abs().max()) < 1e-4
    arm = torch.isin(body.vertex_parts, torch.tensor(ARM[1:]))
    assert float((posed.vertices[arm] - rest[arm]).norm(dim=-1).median()) > 0.1  # the pose moved the arm
    skin = torch.eye(4).repeat(3, 1, 1)
    skin[1, :3, 3] = torch.tensor([1.0, 0.0, 0.0])
    A = vertex_blend_matrices(skin, torch.tensor([[0.25, 0.75]]), torch.tensor([[0, 1]]))
    assert torch.allclose(A[0, :3, 3], torch.tensor([0.75, 0.0, 0.0]))


def test_mask_labels_and_hit_depth_match_the_renderer(posed, camera, renderer):
    samples = shell_samples(posed, camera, renderer, DELTA, 4)
    out = renderer.render(posed.mesh(), camera, outputs=("mask", "depth", "labels"))
    assert torch.equal(samples.mask, out.mask) and torch.equal(samples.labels, out.labels)
    fg = samples.mask > 0
    assert 100 < int(fg.sum()) < fg.numel() and int(_arm_pixels(samples).sum()) > 10
    assert torch.equal(samples.foreground, torch.nonzero(fg.reshape(-1))[:, 0])
    # The hit point is the unprojected depth: its camera z equals the rendered depth.
    R, t = camera.world_to_cam[0, :3, :3], camera.world_to_cam[0, :3, 3]
    z = (samples.surface @ R.T + t)[..., 2]
    assert float((z - out.depth)[fg].abs().max()) < 1e-4
    assert (samples.canonical[~fg] == 0).all() and (samples.deltas[~fg] == 0).all()
    assert (samples.labels[~fg] == -1).all()


def test_inverse_lbs_takes_the_hit_point_to_the_rest_surface(posed, rest, camera, renderer):
    """With one sample per ray and no jitter the sample is the hit point; its canonical position is
    the barycentric blend of the hit triangle's REST vertices (a posed arm maps back within mm)."""
    samples = shell_samples(posed, camera, renderer, DELTA, 1)
    fg = samples.mask > 0
    assert float((samples.points[..., 0, :] - samples.surface)[fg].abs().max()) < 1e-5
    tri = posed.faces[samples.face_id.clamp_min(0)]  # [C, H, W, 3]
    expected = (samples.barycentric[..., None] * rest[tri]).sum(-2)
    err = (samples.canonical[..., 0, :] - expected).norm(dim=-1)
    arm = _arm_pixels(samples)
    assert float(err[arm].max()) < 0.003 and float(err[fg].median()) < 1e-4
    moved = (samples.surface - samples.canonical[..., 0, :]).norm(dim=-1)
    assert float(moved[arm].median()) > 0.05  # the pose is undone, not ignored
    bary = samples.barycentric[fg]
    assert (bary >= 0).all() and torch.allclose(bary.sum(-1), torch.ones(bary.shape[0]))


def test_samples_lie_in_the_shell_along_each_ray(posed, camera, renderer):
    g = torch.Generator().manual_seed(3)
    S = 6
    samples = shell_samples(posed, camera, renderer, DELTA, S, generator=g)
    fg = samples.mask > 0
    origin = camera.centers[0]
    hit = (samples.surface - origin).norm(dim=-1)  # [C, H, W]
    t = samples.distances[fg]
    assert (t - hit[fg][:, None]).abs().max() <= DELTA + 1e-5
    assert (t[:, 1:] > t[:, :-1]).all()
    # On the ray: sample - origin = t * (unit direction to the hit point).
    ray = torch.nn.functional.normalize(samples.surface - origin, dim=-1)
    on_ray = origin + samples.distances[..., None] * ray[..., None, :]
    assert float((on_ray - samples.points)[fg].abs().max()) < 1e-4
    # canonical = A(p)^-1 x for every sample, and A(p) maps the canonical direction onto the ray.
    A = samples.blend[fg]
    posed_again = torch.einsum("nij,nsj->nsi", A[:, :3, :3], samples.canonical[fg]) + A[:, None, :3, 3]
    assert float((posed_again - samples.points[fg]).abs().max()) < 1e-4
    d_world = torch.nn.functional.normalize(torch.einsum("nij,nj->ni", A[:, :3, :3], samples.directions[fg]), dim=-1)
    assert float((d_world - ray[fg]).abs().max()) < 1e-4
    assert torch.allclose(samples.directions[fg].norm(dim=-1), torch.ones(int(fg.sum())), atol=1e-5)


def test_stratified_sampling_is_deterministic_and_midpoints_without_generator():
    hit = torch.tensor([2.0, 3.5])
    a, _ = shell_distances(hit, 0.05, 5, torch.Generator().manual_seed(0))
    b, _ = shell_distances(hit, 0.05, 5, torch.Generator().manual_seed(0))
    c, _ = shell_distances(hit, 0.05, 5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    mid, deltas = shell_distances(hit, 0.05, 5)
    assert torch.allclose(mid[0], torch.tensor([1.96, 1.98, 2.0, 2.02, 2.04]))
    assert torch.allclose(deltas, torch.full((2, 5), 0.02))
    bins = ((a - hit[:, None] + 0.05) / 0.02).floor()
    assert torch.equal(bins, torch.arange(5.0).expand(2, 5))  # one draw per bin


def test_cat_offsets_the_foreground_indices(posed, camera, renderer):
    one = shell_samples(posed, camera, renderer, DELTA, 2)
    two = ShellSamples.cat([one, one])
    assert two.num_views == 2 and two.size == one.size
    assert torch.equal(two.foreground, torch.nonzero(two.mask.reshape(-1) > 0)[:, 0])
    assert torch.equal(two.canonical[1], one.canonical[0])
