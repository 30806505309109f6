"""Skinning, forward kinematics, clip sampling and quaternions against independent formulas on
small synthetic rigs (glTF's semantics written out by hand)."""

from __future__ import annotations

import math

import pytest
import torch

from humanmv.rig.rotations import (continuous_quaternions, inverse_rigid, matrix_to_quaternion,
                                   quaternion_to_matrix, rigid, slerp)


def _random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    q = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return quaternion_to_matrix(q)


def test_quaternions_round_trip_everywhere_including_half_turns():
    R = _random_rotations(500)
    half_turns = torch.diag_embed(torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64))
    R = torch.cat([R, half_turns, torch.eye(3, dtype=torch.float64)[None]])
    q = matrix_to_quaternion(R)
    assert torch.allclose(q.norm(dim=-1), torch.ones(len(R), dtype=torch.float64))
    assert (q[:, 3] >= 0).all()
    assert torch.allclose(quaternion_to_matrix(q), R, atol=1e-12)
    # glTF's order: a quarter turn about z is (0, 0, sin 45, cos 45) and maps x to y
    quarter = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)], dtype=torch.float64)
    assert torch.allclose(quaternion_to_matrix(quarter) @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)


def test_slerp_follows_the_short_arc_at_constant_speed():
    q0 = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    q1 = torch.tensor([0.0, math.sin(0.6), 0.0, math.cos(0.6)], dtype=torch.float64)  # 1.2 rad about y
    for alpha in (0.0, 0.25, 0.5, 1.0):
        q = slerp(q0, -q1, torch.tensor(alpha, dtype=torch.float64))  # -q1: the same rotation
        angle = 2 * math.atan2(q[:3].norm(), abs(q[3]))
        assert abs(angle - 1.2 * alpha) < 1e-9
    keys = torch.stack([q0, -q1, q1])
    fixed = continuous_quaternions(keys)
    assert (fixed[1] * fixed[0]).sum() > 0 and (fixed[2] * fixed[1]).sum() > 0


def test_inverse_rigid_is_exact_and_affine():
    m = rigid(_random_rotations(20), torch.randn(20, 3, dtype=torch.float64))
    inv = inverse_rigid(m)
    assert torch.allclose(inv @ m, torch.eye(4, dtype=torch.float64).expand(20, 4, 4), atol=1e-12)
    assert torch.equal(inv[:, 3], torch.tensor([0.0, 0, 0, 1], dtype=torch.float64).expand(20, 4))


def _chain_rig(seed: int = 0):
    """A 4-joint rig (root -> a -> b, root -> c) over 50 random vertices with random 4-joint
    weights, bind pose random too."""
    from humanmv.rig.skeleton import Rig

    g = torch.Generator().manual_seed(seed)
    parents = [-1, 0, 1, 0]
    bind_local = rigid(_random_rotations(4, seed), torch.randn(4, 3, generator=g, dtype=torch.float64))
    from humanmv.rig.skinning import forward_kinematics

    bind_world = forward_kinematics(parents, bind_local)
    weights = torch.rand(50, 4, generator=g)
    weights = weights / weights.sum(1, keepdim=True)
    joints = torch.stack([torch.randperm(4, generator=g) for _ in range(50)])
    return Rig(joint_names=["root", "a", "b", "c"], parents=parents, inverse_bind=torch.linalg.inv(bind_world),
               vertices=torch.randn(50, 3, generator=g), faces=torch.tensor([[0, 1, 2]]), uvs=torch.rand(50, 2, generator=g),
               uv_faces=None, texture=None, joints=joints, weights=weights, pose_local=bind_local,
               photo_offset=0.01 * torch.randn(50, 3, generator=g))


def test_forward_kinematics_multiplies_down_each_chain():
    from humanmv.rig.skinning import forward_kinematics

    local = rigid(_random_rotations(8, 1).reshape(2, 4, 3, 3), torch.randn(2, 4, 3, dtype=torch.float64))
    world = forward_kinematics([-1, 0, 1, 0], local)
    assert torch.allclose(world[:, 0], local[:, 0])
    assert torch.allclose(world[:, 2], local[:, 0] @ local[:, 1] @ local[:, 2])
    assert torch.allclose(world[:, 3], local[:, 0] @ local[:, 3])


def test_skin_is_gltfs_weighted_sum_of_joint_times_inverse_bind():
    from humanmv.rig.skinning import forward_kinematics, skin_vertices

    rig = _chain_rig()
    bind = forward_kinematics(rig.parents, rig.pose_local[None])
    assert (skin_vertices(rig, bind)[0] - rig.vertices).abs().max() < 1e-5  # bind pose: no motion
    posed = rigid(_random_rotations(12, 2).reshape(3, 4, 3, 3), torch.randn(3, 4, 3, dtype=torch.float64))
    morph = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    got = skin_vertices(rig, posed, morph, dtype=torch.float64)
    for t in range(3):
        point = torch.cat([rig.vertices.double() + morph[t] * rig.photo_offset.double(), torch.ones(50, 1, dtype=torch.float64)], 1)
        expected = torch.zeros(50, 3, dtype=torch.float64)
        for k in range(4):
            skin = posed[t, rig.joints[:, k]] @ rig.inverse_bind[rig.joints[:, k]]  # (50, 4, 4)
            expected += rig.weights[:, k, None].double() * (skin @ point[..., None])[:, :3, 0]
        assert torch.allclose(got[t], expected, atol=1e-10)
    with pytest.raises(ValueError, match=r"joint_world must be \(T, 4, 4, 4\)"):
        skin_vertices(rig, posed[0])


def test_sample_clip_interpolates_loops_and_holds():
    from humanmv.rig.skeleton import Clip
    from humanmv.rig.skinning import sample_clip

    angles = torch.tensor([0.0, 0.8, 0.0], dtype=torch.float64)  # about x, keys at 0, 0.5, 1 s
    rotations = torch.zeros(3, 1, 4, dtype=torch.float64)
    rotations[:, 0, 0], rotations[:, 0, 3] = torch.sin(angles / 2), torch.cos(angles / 2)
    translations = torch.tensor([[[0.0, 0, 0]], [[0.0, 1, 0]], [[0.0, 0, 0]]])
    clip = Clip("c", torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), rotations, translations,
                torch.tensor([0.0, 1.0, 0.0]), loop=True)
    local, morph = sample_clip(clip, torch.tensor([0.25, 0.5, 1.25, 2.5], dtype=torch.float64))
    angle = torch.atan2(local[:, 0, 2, 1], local[:, 0, 1, 1])
    assert torch.allclose(angle, torch.tensor([0.4, 0.8, 0.4, 0.8], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(local[:, 0, 1, 3], torch.tensor([0.5, 1.0, 0.5, 1.0], dtype=torch.float64))
    assert torch.allclose(morph, torch.tensor([0.5, 1.0, 0.5, 1.0], dtype=torch.float64))
    clip.loop = False
    local, morph = sample_clip(clip, torch.tensor([1.25, 7.0], dtype=torch.float64))
    assert torch.allclose(local[:, 0, :3, :3], torch.eye(3, dtype=torch.float64).expand(2, 3, 3)) and (morph == 0).all()
