import math

import numpy as np
import pytest
import torch

from humanmv.body.anny_model import BodyParams
from humanmv.data.engine import sample_pose
from humanmv.render.uv_space import rasterize_uv
from humanmv.shells.garments import ShellSpec, build_shells
from humanmv.shells.labels import label_of
from humanmv.shells.shell import _FREE_SQUARES, CHART_OF_KIND, BindBody, ShellPoser, chart_box, dress_mesh

# A subject that is not Anny's average (so the bind body is not the neutral one).
PHENOTYPE = torch.tensor([[0.2, 0.7, 0.6, 0.3, 0.8, 0.4]])
SPECS = [ShellSpec("skirt", {"gap": 0.025}), ShellSpec("loose-top", {"looseness": 0.03, "sleeves": 2}),
         ShellSpec("shoes"), ShellSpec("long-hair"), ShellSpec("bun"), ShellSpec("hat")]


@pytest.fixture(scope="module")
def params(body):
    p = BodyParams.neutral(1, len(body.expression_names))
    return BodyParams(p.pose, PHENOTYPE.clone(), p.expression)


@pytest.fixture(scope="module")
def bind(body, params):
    return BindBody.of(body, params)


@pytest.fixture(scope="module")
def poser(body, params):
    return ShellPoser(body, params)


@pytest.fixture(scope="module")
def shells(bind):
    return build_shells(bind, SPECS)


def _walk(k: int) -> torch.Tensor:
    return sample_pose(np.random.default_rng(k), "walking")


def _posed_body(body, params, pose):
    with torch.no_grad():
        return body(BodyParams(pose[None], params.phenotype, params.expression)).vertices[0]


def test_point_on_a_body_vertex_lands_on_annys_posed_vertex(body, params, bind, poser):
    ids = torch.arange(body.num_vertices)
    for k in range(3):
        pose = _walk(k)
        posed = _posed_body(body, params, pose)
        assert float((posed - bind.vertices).norm(dim=-1).max()) > 0.1  # the walk moves the body
        out = poser.pose_points(bind.vertices, ids, pose)
        err = (out - posed).norm(dim=-1)
        assert float(err.max()) < 1e-4, f"walk {k}: max {float(err.max()):.2e} m at vertex {int(err.argmax())}"


def test_pose_zero_keeps_every_shell_where_it_was_built(shells, poser):
    assert len(shells) == 8  # long-hair and bun add a scalp shell each
    zero = torch.zeros_like(poser.params.pose[0])
    for shell in shells:
        err = (poser.pose(shell, zero) - shell.vertices).abs().max()
        assert float(err) < 1e-5, f"{shell.kind}: {float(err):.2e} m"


def test_poser_cache_follows_the_pose(body, params, shells):
    poser = ShellPoser(body, params)
    skirt = shells[0]
    a, b = _walk(0), _walk(1)
    first = poser.pose(skirt, a)
    other = poser.pose(skirt, b)
    again = poser.pose(skirt, a)
    assert float((first - other).norm(dim=-1).max()) > 0.05  # two different walk frames
    assert torch.equal(first, again)
    assert torch.allclose(other, ShellPoser(body, params).pose(skirt, b), atol=1e-6)


def test_posing_is_differentiable_in_the_bind_vertices(shells, poser):
    skirt = shells[0]
    verts = skirt.vertices.clone().requires_grad_(True)
    poser.pose_points(verts, skirt.anchors, torch.zeros_like(poser.params.pose[0])).sum().backward()
    assert torch.allclose(verts.grad, torch.ones_like(verts), atol=1e-5)  # identity at pose zero
    verts.grad = None
    T = poser.carry(skirt.anchors, _walk(2))
    poser.pose_points(verts, skirt.anchors, _walk(2)).sum().backward()
    assert torch.allclose(verts.grad.double(), T[:, :3, :3].sum(1), atol=1e-5)  # d/dp of (R p + t)


def _offset_change(body, params, bind, poser, shell, pose):
    """|shell vertex - anchor| after posing over before, minus 1, per vertex."""
    before = (shell.vertices - bind.vertices[shell.anchors]).norm(dim=-1)
    after = (poser.pose(shell, pose) - _posed_body(body, params, pose)[shell.anchors]).norm(dim=-1)
    return before, after / before - 1


@pytest.mark.parametrize("spec, p95_bound, max_bound", [
    (ShellSpec("skirt", {"gap": 0.025}), 0.03, None),
    (ShellSpec("loose-top", {"looseness": 0.03, "sleeves": 2}), 0.035, 0.08),
])
def test_shells_keep_their_offsets_from_the_anchors_through_a_walk(body, params, bind, poser, spec, p95_bound,
                                                                 max_bound):
    """Every shell vertex moves with its anchor's blend of bone transforms, so its offset from the
    anchor turns with it and keeps (nearly) its length. Linear blend skinning blends rotations,
    which only shortens vectors (a 50/50 blend of two rotations theta apart scales by cos(theta/2)
    across the axis): offsets never grow, shrink 1% or less on average, and for the skirt (hip and
    knee blends) never more than 1 - cos(theta_max / 2) with theta_max the walk's largest joint
    angle. The loose top's shoulders blend spine, clavicle and upper arm, so its worst vertices
    shrink a little more (measured: up to 5.7%)."""
    shell = build_shells(bind, [spec])[0]
    for k in range(4):
        pose = _walk(k)
        before, rel = _offset_change(body, params, bind, poser, shell, pose)
        shrink = -rel
        theta = float(pose.norm(dim=-1).max())
        msg = (f"{spec.kind} walk {k}: mean |change| {float(rel.abs().mean()):.4f}, p95 "
               f"{float(rel.abs().quantile(0.95)):.4f}, max shrink {float(shrink.max()):.4f}, max growth "
               f"{float(rel.max()):.5f}, two-bone bound {1 - math.cos(theta / 2):.4f}")
        if spec.kind == "skirt":
            assert float(before.min()) > 0.02, msg  # a shell more than 2 cm off the legs
        assert float(rel.abs().mean()) < 0.01, msg
        assert float(rel.abs().quantile(0.95)) < p95_bound, msg
        assert float(rel.max()) < 1e-3, msg
        bound = 1 - math.cos(theta / 2) + 0.005 if max_bound is None else max_bound
        assert float(shrink.max()) < bound, msg


def test_dress_mesh_appends_the_shells_after_the_body(body, params, shells, poser):
    pose = _walk(1)
    verts = _posed_body(body, params, pose)
    texture = torch.rand(64, 64, 3)
    mesh = body.mesh(verts, texture=texture)
    posed = [poser.pose(s, pose) for s in shells]
    out = dress_mesh(mesh, shells, posed)
    V, F, T = mesh.vertices.shape[0], mesh.faces.shape[0], mesh.uvs.shape[0]
    assert out.vertices.shape[0] == V + sum(s.vertices.shape[0] for s in shells)
    assert out.faces.shape[0] == out.uv_faces.shape[0] == out.face_labels.shape[0] == F + sum(
        s.faces.shape[0] for s in shells)
    assert out.uvs.shape[0] == T + sum(s.uvs.shape[0] for s in shells)
    assert out.texture is texture
    assert int(out.faces.max()) < out.vertices.shape[0] and int(out.uv_faces.max()) < out.uvs.shape[0]
    assert torch.equal(out.vertices[:V], mesh.vertices) and torch.equal(out.faces[:F], mesh.faces)
    assert torch.equal(out.face_labels[:F], body.face_labels)
    f = F
    for shell, p in zip(shells, posed):
        n = shell.faces.shape[0]
        assert (out.face_labels[f:f + n] == shell.label).all(), shell.kind
        # The same triangles, at the posed positions, with the shell's own uvs.
        assert torch.equal(out.vertices[out.faces[f:f + n]], p.float()[shell.faces])
        assert torch.equal(out.uvs[out.uv_faces[f:f + n]], shell.uvs[shell.uv_faces])
        f += n
    assert set(out.face_labels[F:].tolist()) == {label_of(n) for n in ("dress", "upper_garment", "shoes", "hair",
                                                                        "headwear")}


def test_charts_lie_in_free_space_of_annys_uv_layout(body, bind):
    S = 512
    raster = rasterize_uv(body.mesh(bind.vertices), S)
    assert raster.mask.float().mean() > 0.5  # the body's islands do cover the atlas
    centre = (torch.arange(S) + 0.5) / S
    u, v = centre[None, :].expand(S, S), (1 - centre)[:, None].expand(S, S)
    boxes = []
    for i in range(len(_FREE_SQUARES)):
        u0, v0, u1, v1 = chart_box(i)
        assert 0 <= u0 < u1 <= 1 and 0 <= v0 < v1 <= 1
        inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
        assert inside.sum() > 40 * 40, f"chart {i} is tiny"
        covered = int((inside & raster.mask).sum())
        assert covered == 0, f"chart {i} {chart_box(i)} overlaps {covered} body texels"
        assert not any((inside & b).any() for b in boxes), f"chart {i} overlaps another chart"
        boxes.append(inside)
    assert set(CHART_OF_KIND.values()) <= set(range(len(_FREE_SQUARES)))
    # One chart per kind, except skirt and dress, which an outfit never has together.
    assert CHART_OF_KIND["skirt"] == CHART_OF_KIND["dress"]
    assert len(set(CHART_OF_KIND.values())) == len(CHART_OF_KIND) - 1
