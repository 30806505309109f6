import torch

from humanmv.body.anny_model import PART_NAMES, POSE_BONES, BodyParams, axis_angle_to_matrix


def test_world_convention_y_up_facing_plus_z_left_at_plus_x(body):
    out = body(BodyParams.neutral())
    v, kp = out.vertices[0], out.keypoints[0]
    names = body.keypoint_names
    assert v.dtype == torch.float32 and v.shape == (body.num_vertices, 3)
    extent = v.max(0).values - v.min(0).values
    assert extent[1] > 1.4 and extent[1] > extent[0] and extent[1] > extent[2]  # tall along Y
    nose, lear = kp[names.index("nose")], kp[names.index("left_ear")]
    assert nose[2] > lear[2] + 0.03  # the nose is in front (+Z) of the ears
    assert kp[names.index("left_shoulder"), 0] > 0 > kp[names.index("right_shoulder"), 0]
    assert kp[names.index("nose"), 1] > kp[names.index("left_hip"), 1] > kp[names.index("left_ankle"), 1]
    assert v.mean(0).abs().max() < 0.25  # centred near the origin


def test_mesh_topology_and_part_labels(body):
    assert body.faces.shape[1] == 3 and int(body.faces.max()) < body.num_vertices
    assert body.uv_faces.shape == body.faces.shape and body.uvs.shape[1] == 2
    assert 0 <= float(body.uvs.min()) and float(body.uvs.max()) <= 1
    labels = set(body.face_labels.tolist())
    for part in ("head", "torso", "hand.L", "hand.R", "foot.L", "lower_leg.R", "upper_arm.L"):
        assert PART_NAMES.index(part) in labels, part
    head = body(BodyParams.neutral()).vertices[0][body.head_vertex_mask()]
    assert float(head[:, 1].min()) > 0.35  # the head is at the top of the body


def test_pose_and_phenotype_change_the_body(body):
    rest = body(BodyParams.neutral())
    p = BodyParams.neutral()
    p.pose[0, POSE_BONES.index("lowerleg01.L")] = torch.tensor([1.0, 0, 0])  # bend the left knee
    bent = body(p)
    ankle = body.keypoint_names.index("left_ankle")
    assert bent.keypoints[0, ankle, 2] < rest.keypoints[0, ankle, 2] - 0.1  # the foot goes back (-Z)
    tall = BodyParams.neutral()
    tall.phenotype[0, 4] = 1.0  # height
    h = lambda o: float(o.vertices[0, :, 1].max() - o.vertices[0, :, 1].min())  # noqa: E731
    assert h(body(tall)) > h(rest) + 0.05


def test_params_dict_round_trip(body):
    p = BodyParams(torch.randn(1, len(POSE_BONES), 3) * 0.1, torch.rand(1, 6), torch.zeros(1, 52))
    p.expression[0, 3] = 0.5
    again = BodyParams.from_dict(p.to_dict(body.expression_names), body.expression_names)
    assert torch.allclose(again.pose, p.pose, atol=1e-5)
    assert torch.allclose(again.phenotype, p.phenotype, atol=1e-5)
    assert torch.allclose(again.expression, p.expression, atol=1e-5)


def test_axis_angle_matches_rodrigues_and_is_smooth_at_zero():
    rv = torch.tensor([[0.0, 0.0, torch.pi / 2], [1e-9, 0.0, 0.0]], requires_grad=True)
    R = axis_angle_to_matrix(rv)
    assert torch.allclose(R[0] @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)
    assert torch.allclose(R[1], torch.eye(3), atol=1e-6)
    R.sum().backward()
    assert torch.isfinite(rv.grad).all()
