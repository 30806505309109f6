"""The rig of a dressed avatar (surface offsets and shells): the shells ride Anny's skeleton as
their anchor body vertices do, the photo clip still gives the avatar's mesh, avatar.json and
surface.json rebuild it."""

from __future__ import annotations

import json

import pytest
import torch
from rig_cases import dressed_avatar


@pytest.fixture(scope="module")
def dressed(body):
    return dressed_avatar(body, seed=1)


@pytest.fixture(scope="module")
def dressed_rig(body, dressed):
    from humanmv.rig import build_rig

    return build_rig(body, dressed)


def test_the_rig_holds_the_offset_body_then_each_shell(body, dressed, dressed_rig):
    V = body.num_vertices
    N = [s.vertices.shape[0] for s in dressed.shells]
    assert [s.kind for s in dressed.shells] == ["skirt", "scalp-hair", "bun"]
    assert dressed_rig.vertices.shape[0] == dressed.mesh.vertices.shape[0] == V + sum(N)
    first = V
    for shell, n in zip(dressed.shells, N):
        assert torch.equal(dressed_rig.vertices[first:first + n], shell.vertices.float())
        assert torch.equal(dressed_rig.joints[first:first + n], dressed_rig.joints[shell.anchors])
        assert torch.equal(dressed_rig.weights[first:first + n], dressed_rig.weights[shell.anchors])
        first += n
    # the torso's offsets are in the bind body: 2 cm at most, along its normals
    moved = (dressed_rig.vertices[:V] - build_plain_rig(body, dressed).vertices).norm(dim=-1)
    assert 0.005 < float(moved.max()) <= 0.0201 and float(moved[dressed.offsets == 0].max()) < 1e-6


def build_plain_rig(body, dressed):
    from dataclasses import replace

    from humanmv.rig import build_rig

    return build_rig(body, replace(dressed, offsets=None, shells=None, shell_specs=None,
                                   mesh=replace(dressed.mesh, vertices=dressed.mesh.vertices[:body.num_vertices],
                                                faces=body.faces, uvs=body.uvs, uv_faces=body.uv_faces)))


def test_photo_clip_reproduces_the_dressed_mesh(dressed, dressed_rig):
    from humanmv.rig import animate_vertices

    posed = animate_vertices(dressed_rig, dressed_rig.clips["photo"], torch.zeros(1), dtype=torch.float64)[0]
    assert (posed - dressed.mesh.vertices.double()).abs().max() < 1e-5


def test_a_skirt_2cm_off_the_legs_keeps_its_offsets_through_the_walk(body, dressed, dressed_rig):
    """The glTF skin (4 influences) plays the walk: every skirt vertex keeps its distance to its
    anchor on the legs within 1% on average (linear blend skinning only shortens offsets, by
    1 - cos(theta / 2) at worst across a blend of two bones theta apart)."""
    from humanmv.rig import animate_vertices

    V = body.num_vertices
    skirt = dressed.shells[0]
    n = skirt.vertices.shape[0]
    rest = dressed_rig.vertices
    before = (rest[V:V + n] - rest[skirt.anchors]).norm(dim=-1)
    assert float(before.min()) > 0.02  # the shell sits more than 2 cm off the legs
    walk = dressed_rig.clips["walk"]
    times = torch.linspace(0, float(walk.times[-1]), 6)
    frames = animate_vertices(dressed_rig, walk, times, dtype=torch.float64)
    spread = 0.0
    for f in frames:
        after = (f[V:V + n] - f[skirt.anchors]).norm(dim=-1)
        change = after / before.double() - 1
        assert float(change.abs().mean()) < 0.01, float(change.abs().mean())
        assert float(change.max()) < 1e-3  # never longer
        spread = max(spread, float((f[:V] - frames[0][:V]).norm(dim=-1).max()))
    assert spread > 0.1  # the walk really moves the legs


def test_avatar_json_and_surface_json_rebuild_the_dressed_mesh(body, dressed, dressed_rig):
    from humanmv.recon import rebuild_bind_vertices, rebuild_vertices

    data = json.loads(json.dumps(dressed.to_json(body, rig=dressed.rig_json(dressed_rig, body))))
    surface = json.loads(json.dumps(dressed.surface_json()))
    assert data["offsets"]["file"] == "surface.json" and data["offsets"]["vertices"] == body.num_vertices
    assert [s["kind"] for s in data["shells"]] == ["skirt", "scalp-hair", "bun"]
    assert [s["kind"] for s in surface["shells"]] == ["skirt", "bun"]
    rebuilt = rebuild_vertices(body, data, surface)
    assert rebuilt.shape == dressed.mesh.vertices.shape
    assert (rebuilt - dressed.mesh.vertices).abs().max() < 1e-5
    bind = rebuild_bind_vertices(body, data, surface)  # avatar.glb's POSITION
    assert bind.shape == dressed_rig.vertices.shape
    assert (bind - dressed_rig.vertices).abs().max() < 1e-5
    naked = rebuild_vertices(body, data)
    assert naked.shape[0] == body.num_vertices
    assert (naked - dressed.mesh.vertices[:body.num_vertices]).norm(dim=-1).max() > 0.005
