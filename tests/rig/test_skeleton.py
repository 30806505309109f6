"""build_rig: the bind pose is Anny's pose zero, the skeleton is Anny's, the photo clip gives the
exported mesh exactly, and any pose of Anny's pose space is Anny's own skinning up to the
4-influence truncation."""

from __future__ import annotations

import json

import pytest
import torch

from humanmv.body.anny_model import ANNY_TO_WORLD, POSE_BONES, BodyParams, axis_angle_to_matrix


def test_skeleton_is_annys_with_its_names_and_hierarchy(body, rig):
    assert rig.joint_names == body.bone_names and len(rig.joint_names) == 104
    assert rig.parents == [int(p) for p in body.anny.bone_parents]
    assert rig.joint_names[0] == "root" and rig.parents[0] == -1
    assert rig.joint_names[rig.parents[rig.joint_names.index("lowerarm01.R")]] == "upperarm02.R"
    # inverse_bind inverts the bind pose's joint world transforms
    eye = torch.eye(4, dtype=torch.float64).expand(104, 4, 4)
    assert torch.allclose(rig.bind_world @ rig.inverse_bind, eye, atol=1e-6)


def test_bind_pose_is_anny_pose_zero_unplaced(body, avatar, rig):
    zero = BodyParams(torch.zeros_like(avatar.params.pose), avatar.params.phenotype, avatar.params.expression)
    with torch.no_grad():
        expected = body(zero)
    assert torch.equal(rig.vertices, expected.vertices[0])
    # the joints sit at Anny's bone heads (world frame), the root at the origin
    assert torch.allclose(rig.bind_world[:, :3, 3].float(), expected.bone_heads[0], atol=1e-5)
    assert rig.bind_world[0, :3, 3].abs().max() < 1e-6
    # the default pose (what a viewer shows) is the photo clip's only key
    assert torch.allclose(rig.pose_local, rig.clips["photo"].local()[0]) and rig.pose_morph == 1.0


def test_top_four_influences_are_annys_largest_renormalised(body, rig):
    w = body.anny.vertex_bone_weights.float()
    idx = body.anny.vertex_bone_indices.long()
    assert rig.joints.shape == rig.weights.shape == (body.num_vertices, 4)
    assert torch.allclose(rig.weights.sum(1), torch.ones(body.num_vertices), atol=1e-6)
    assert (rig.weights[:, :-1] >= rig.weights[:, 1:]).all()  # largest first
    top = w.topk(4, dim=1)
    used = top.values > 0
    assert torch.equal(rig.joints[used], idx.gather(1, top.indices)[used])
    assert (rig.joints[~used] == 0).all() and (rig.weights[~used] == 0).all()
    single = (w > 0).sum(1) == 1  # one bone: weight 1 on it
    assert single.any() and torch.allclose(rig.weights[single, 0], torch.ones(int(single.sum())))


def test_photo_clip_reproduces_the_avatar_mesh_exactly(avatar, rig):
    from humanmv.rig import animate_vertices

    photo = rig.clips["photo"]
    assert (photo.keys, photo.loop, float(photo.morph[0])) == (1, False, 1.0)
    posed = animate_vertices(rig, photo, torch.zeros(1), dtype=torch.float64)[0]
    assert (posed - avatar.mesh.vertices.double()).abs().max() < 1e-5
    # the morph target carries what 4 influences miss: millimetres, not nothing, not a body
    plain = photo.morph.clone()
    photo.morph = torch.zeros(1)
    try:
        skin_only = animate_vertices(rig, photo, torch.zeros(1), dtype=torch.float64)[0]
    finally:
        photo.morph = plain
    miss = (skin_only - avatar.mesh.vertices.double()).norm(dim=1)
    assert 1e-3 < float(miss.max()) < 0.05 and float(miss.mean()) < 1e-3
    assert abs(rig.describe()["photo_offset"]["max_m"] - float(rig.photo_offset.norm(dim=1).max())) < 1e-9


def test_any_anny_pose_is_annys_skinning_in_world_axes(body, avatar, rig):
    """A random pose of POSE_BONES given as a motion (Anny's axis-angles turned to world axes):
    the joints land exactly where Anny puts its bones, the mesh where Anny's 9-bone skin puts
    it up to the 4-influence truncation."""
    from humanmv.rig import forward_kinematics, motion_to_clip, skin_vertices
    from humanmv.rig.motions import Motion

    g = torch.Generator().manual_seed(3)
    pose = 0.5 * torch.randn(1, len(POSE_BONES), 3, generator=g)
    world_axes = pose[0].double() @ ANNY_TO_WORLD.double().T
    motion = Motion("test", 24.0, list(POSE_BONES), axis_angle_to_matrix(world_axes)[None], torch.zeros(1, 3), loop=False)
    clip = motion_to_clip(rig, motion)
    joints = forward_kinematics(rig.parents, clip.local())
    params = BodyParams(pose, avatar.params.phenotype, avatar.params.expression)
    with torch.no_grad():
        expected = body(params)
    assert (joints[0, :, :3, 3].float() - expected.bone_heads[0]).abs().max() < 1e-4
    skinned = skin_vertices(rig, joints)[0]
    error = (skinned - expected.vertices[0]).norm(dim=1)
    assert float(error.median()) < 1e-4 and float(error.mean()) < 1e-3 and float(error.max()) < 0.05
    assert float((skinned - rig.vertices).norm(dim=1).max()) > 0.2  # the pose really moved it


def test_rig_section_of_avatar_json_describes_the_rig(body, avatar, rig):
    from humanmv.recon import rebuild_bind_vertices, rebuild_vertices

    data = json.loads(json.dumps(avatar.to_json(body, rig=avatar.rig_json(rig, body))))
    assert data["version"] == 2
    section = data["rig"]
    assert section["joints"] == body.bone_names and section["parents"][0] == -1
    assert section["bind"]["vertices"] == body.num_vertices and section["influences"] == 4
    assert list(section["clips"]) == ["photo", "idle", "walk", "wave"]
    assert section["clips"]["walk"]["loop"] and not section["clips"]["photo"]["loop"]
    assert section["pose"]["pose_axis_angle"] == data["params"]["pose_axis_angle"]
    assert torch.equal(rebuild_bind_vertices(body, data), rig.vertices)
    assert (rebuild_vertices(body, data) - avatar.mesh.vertices).abs().max() < 1e-5


def test_only_an_anny_body_is_rigged(body, avatar):
    from dataclasses import replace

    from humanmv.rig import build_rig

    with pytest.raises(ValueError, match="only an Anny body"):
        build_rig(body, replace(avatar, params=None))
