import json
import math

import pytest
import torch

from humanmv.body.anny_model import BodyParams
from humanmv.render.mesh import face_normals
from humanmv.shells.garments import KINDS, Landmarks, ShellSpec, build_shells
from humanmv.shells.labels import LABEL_NAMES, SHELL_CLASSES, label_of
from humanmv.shells.shell import CHART_OF_KIND, BindBody, chart_box

# kind -> the shells it makes: (shell kind, label class, has its own chart). A skirt hangs free
# of the legs like a dress and shares its class; a coat's top offsets the body's surface (the
# body's UVs), its tail is a tube with a chart.
EXPECTED = {
    "loose-top": [("loose-top", "upper_garment", False)],
    "coat": [("coat-top", "upper_garment", False), ("coat", "upper_garment", True)],
    "trousers": [("trousers", "lower_garment", False)],
    "shorts": [("shorts", "lower_garment", False)],
    "skirt": [("skirt", "dress", True)],
    "dress": [("dress", "dress", True)],
    "shoes": [("shoes", "shoes", False)],
    "short-hair": [("scalp-hair", "hair", False)],
    "curly-hair": [("scalp-hair", "hair", False)],
    "long-hair": [("scalp-hair", "hair", False), ("long-hair", "hair", True)],
    "bun": [("scalp-hair", "hair", False), ("bun", "hair", True)],
    "ponytail": [("scalp-hair", "hair", False), ("ponytail", "hair", True)],
    "hat": [("hat", "headwear", True)],
    "beanie": [("beanie", "headwear", True)],
}


@pytest.fixture(scope="module")
def bind(body):
    return BindBody.of(body, BodyParams.neutral(1, len(body.expression_names)))


@pytest.fixture(scope="module")
def built(bind):
    return {kind: build_shells(bind, [ShellSpec(kind)]) for kind in KINDS}


def _uv_area(shell):
    t = shell.uvs[shell.uv_faces]
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).abs() / 2


def test_every_kind_builds_valid_shells(bind, built):
    assert set(KINDS) == set(EXPECTED)
    assert LABEL_NAMES[-len(SHELL_CLASSES):] == SHELL_CLASSES
    V = bind.vertices.shape[0]
    for kind in KINDS:
        shells = built[kind]
        assert [(s.kind, LABEL_NAMES[s.label]) for s in shells] == [e[:2] for e in EXPECTED[kind]], kind
        for shell, (_, label, charted) in zip(shells, EXPECTED[kind]):
            name = f"{kind}/{shell.kind}"
            N = shell.vertices.shape[0]
            assert shell.label == label_of(label) and shell.label >= label_of(SHELL_CLASSES[0]), name
            assert N > 50 and shell.faces.shape[0] > 50, name
            assert torch.isfinite(shell.vertices).all() and torch.isfinite(shell.uvs).all(), name
            assert int(shell.faces.min()) >= 0 and int(shell.faces.max()) < N, name
            assert len(torch.unique(shell.faces)) == N, f"{name}: unused vertices"
            assert int(shell.uv_faces.min()) >= 0 and int(shell.uv_faces.max()) < shell.uvs.shape[0], name
            assert int(shell.anchors.min()) >= 0 and int(shell.anchors.max()) < V, name
            assert float(shell.uvs.min()) >= 0 and float(shell.uvs.max()) <= 1, name
            assert shell.params == ShellSpec(kind).to_dict()["params"] == {}, name
            if charted:
                u0, v0, u1, v1 = chart_box(CHART_OF_KIND[shell.kind])
                uv = shell.uvs
                assert (uv[:, 0] >= u0 - 1e-6).all() and (uv[:, 0] <= u1 + 1e-6).all(), name
                assert (uv[:, 1] >= v0 - 1e-6).all() and (uv[:, 1] <= v1 + 1e-6).all(), name
                # The chart is used, not a corner of it: the uvs span it.
                assert float(uv[:, 0].max() - uv[:, 0].min()) > 0.9 * (u1 - u0), name
            else:
                assert shell.kind not in CHART_OF_KIND, f"{name} would be painted as a chart"


def test_offset_shells_show_the_texels_of_the_body_they_cover(bind, built):
    """An offset shell's faces are body faces pushed out: their vertices' anchors are that body
    face's vertices and their uvs are the body's uvs of it."""
    V = bind.vertices.shape[0]
    key = lambda f: (f[:, 0] * V + f[:, 1]) * V + f[:, 2]  # noqa: E731
    body_keys, order = torch.sort(key(bind.faces))
    for kind in KINDS:
        for shell, (_, _, charted) in zip(built[kind], EXPECTED[kind]):
            if charted:
                continue
            k = key(shell.anchors[shell.faces])
            at = torch.searchsorted(body_keys, k).clamp_max(len(body_keys) - 1)
            assert torch.equal(body_keys[at], k), f"{shell.kind}: faces that are not body faces"
            face = order[at]
            assert torch.equal(shell.uvs[shell.uv_faces], bind.uvs[bind.uv_faces[face]]), shell.kind
            # pushed out along the normal, not moved sideways
            off = shell.vertices - bind.vertices[shell.anchors]
            along = (off * bind.normals[shell.anchors]).sum(-1)
            assert float((off.norm(dim=-1) - along).abs().max()) < 1e-5, shell.kind
            assert float(along.min()) > 0, shell.kind


def test_charted_shells_have_area_in_their_chart_and_face_outwards(built):
    for kind in KINDS:
        for shell, (_, _, charted) in zip(built[kind], EXPECTED[kind]):
            if not charted:
                continue
            name = f"{kind}/{shell.kind}"
            # Every face shows texels of the chart (a zero-area uv triangle shows only its edge).
            assert float(_uv_area(shell).min()) > 1e-7, name
            # Wound outwards like the body (its signed volume is positive), so one orientation
            # of the dressed mesh gives every surface outward normals.
            fn = face_normals(shell.vertices, shell.faces, unit=False)
            centroid = shell.vertices.mean(0)
            volume = float((fn * (shell.vertices[shell.faces].mean(1) - centroid)).sum())
            assert volume > 0, f"{name} is wound inwards"
    for kind in ("hat", "beanie"):
        shell = built[kind][0]
        v = shell.vertices
        # The pole: the top-most points in the middle of the crown; the cap: the faces at the pole.
        high = v[:, 1] > float(v[:, 1].max()) - 1e-6
        pole = high & ((v[:, [0, 2]] - v[high][:, [0, 2]].mean(0)).norm(dim=-1) < 0.02)
        top = pole[shell.faces].any(1)
        fn = face_normals(v, shell.faces, unit=False)[top]
        real = fn.norm(dim=-1) > 1e-12
        assert int(real.sum()) >= 16, kind
        assert (fn[real, 1] > 0).all(), f"{kind}: the top of the crown faces down"


def _inside_ring(ring_xz: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """(P,) bool: points inside a star-shaped closed ring (about its mean), by the ring's radius
    at each point's direction (linear between the two ring points either side)."""
    c = ring_xz.mean(0)
    ang = torch.atan2(*(ring_xz - c).unbind(-1))
    rad = (ring_xz - c).norm(dim=-1)
    order = torch.argsort(ang)
    ang, rad = ang[order], rad[order]
    ang = torch.cat([ang[-1:] - 2 * math.pi, ang, ang[:1] + 2 * math.pi])
    rad = torch.cat([rad[-1:], rad, rad[:1]])
    a = torch.atan2(*(pts - c).unbind(-1))
    i = torch.searchsorted(ang, a).clamp(1, len(ang) - 1)
    t = (a - ang[i - 1]) / (ang[i] - ang[i - 1])
    return (pts - c).norm(dim=-1) < rad[i - 1] + t * (rad[i] - rad[i - 1])


def test_skirt_hangs_round_both_legs(bind, built):
    skirt = built["skirt"][0]
    v = skirt.vertices
    marks = Landmarks.of(bind)
    hem = v[(v[:, 1] - v[:, 1].min()).abs() < 1e-5]
    assert hem.shape[0] == 48
    assert abs(float(hem[0, 1]) - marks.knee) < 1e-4  # hem 0: at the knee
    knees = torch.stack([bind.keypoints["left_knee"], bind.keypoints["right_knee"]])
    assert float(knees[0, 0]) > 0.05 and float(knees[1, 0]) < -0.05  # two legs apart
    assert float(hem[:, 0].min()) < float(knees[1, 0]) and float(hem[:, 0].max()) > float(knees[0, 0])
    assert _inside_ring(hem[:, [0, 2]], knees[:, [0, 2]]).all()
    # One ring round both legs: every leg vertex near the hem's height is inside it, both sides.
    legs = bind.vertices[bind.part_mask("upper_leg", "lower_leg")]
    near = legs[(legs[:, 1] - hem[0, 1]).abs() < 0.02]
    assert (near[:, 0] > 0.05).sum() > 20 and (near[:, 0] < -0.05).sum() > 20
    assert _inside_ring(hem[:, [0, 2]], near[:, [0, 2]]).all()
    # ... and the waist ring round the hips.
    waist = v[(v[:, 1] - v[:, 1].max()).abs() < 1e-5]
    hips = bind.vertices[bind.part_mask("torso", "upper_leg") & ((bind.vertices[:, 1] - waist[0, 1]).abs() < 0.01)]
    assert _inside_ring(waist[:, [0, 2]], hips[:, [0, 2]]).all()


def test_unknown_kind_is_refused(bind):
    with pytest.raises(ValueError, match="unknown shell kind 'cape'"):
        build_shells(bind, [ShellSpec("skirt"), ShellSpec("cape")])


def test_spec_round_trips_and_built_shells_record_it(bind):
    spec = ShellSpec("skirt", {"hem": 0.123456789, "flare": 0.05, "gap": 0.015})
    data = json.loads(json.dumps(spec.to_dict()))  # unrounded: a rounded hem can move an anchor
    assert data == {"kind": "skirt", "params": {"hem": 0.123456789, "flare": 0.05, "gap": 0.015}}
    again = ShellSpec.from_dict(data)
    assert again.kind == "skirt" and again.to_dict() == data
    assert ShellSpec.from_dict({"kind": "shoes"}) == ShellSpec("shoes", {})
    assert build_shells(bind, [spec])[0].params == data["params"]


def test_fitted_parameters_carry_gradients(bind):
    """The surface stage fits a kind's parameters: given tensors, the shell's vertices depend on
    them differentiably (and the shell records no fixed parameters)."""
    marks = Landmarks.of(bind)
    hem, flare = torch.tensor(0.3, requires_grad=True), torch.tensor(0.05, requires_grad=True)
    skirt = build_shells(bind, [ShellSpec("skirt", {"hem": hem, "flare": flare})])[0]
    assert skirt.params == {}
    v = skirt.vertices
    ring = v[-48:]
    gh, gf = torch.autograd.grad(ring[:, 1].mean(), [hem, flare], retain_graph=True)
    assert abs(float(gh) - (marks.ankle - marks.knee)) < 1e-5  # the hem moves knee -> ankle
    assert abs(float(gf)) < 1e-6
    centre = ring[:, [0, 2]].detach().mean(0)
    radius = (ring[:, [0, 2]] - centre).norm(dim=-1).mean()
    (gf,) = torch.autograd.grad(radius, [flare])
    assert abs(float(gf) - 1) < 0.02  # flare widens the hem by itself
