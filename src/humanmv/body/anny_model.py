"""The Anny body model in humanmv's world convention.

Anny (Apache-2.0, NAVER) is Z up, facing -Y, float64. We convert once, here:
world = (x, z, -y): metres, Y up, facing +Z, the subject's left at +X, origin at Anny's root
(between the hips). Everything downstream sees only world coordinates.

Pose is a small set of bones (`POSE_BONES`) with axis-angle rotations in Anny's "local-ref"
parameterisation: each rotation is about axes aligned with the Anny world frame at rest
(x: subject's left, y: backwards, z: up), applied at the bone. The rest pose is an A-pose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from humanmv.paths import configure_third_party_caches

log = logging.getLogger("humanmv")

PHENOTYPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")

# Bones we pose when fitting; the fingers, toes and twist bones stay at rest.
POSE_BONES = (
    "spine03", "spine01", "neck01", "head",
    "clavicle.L", "upperarm01.L", "lowerarm01.L", "wrist.L",
    "clavicle.R", "upperarm01.R", "lowerarm01.R", "wrist.R",
    "upperleg01.L", "lowerleg01.L", "foot.L",
    "upperleg01.R", "lowerleg01.R", "foot.R",
)

# Body parts, derived from each vertex's dominant skinning bone (Anny's own segmentation only
# separates head/hands/feet/eyes). Label 0..len-1; the renderer uses -1 for background.
PART_NAMES = (
    "head", "neck", "torso", "upper_arm.L", "lower_arm.L", "hand.L", "upper_arm.R",
    "lower_arm.R", "hand.R", "upper_leg.L", "lower_leg.L", "foot.L", "upper_leg.R",
    "lower_leg.R", "foot.R", "eyes",
)

# The face on the rest body, metres about the eyes' mean height and the head's mean depth: from
# FACE_BELOW_EYES below the eyes to FACE_ABOVE_EYES above them, in front of the head's centre by
# more than FACE_FRONT (ears included, the back of the head not).
FACE_BELOW_EYES, FACE_ABOVE_EYES, FACE_FRONT = 0.13, 0.05, 0.01


def in_face_region(points: torch.Tensor, parts: torch.Tensor, rest_vertices: torch.Tensor,
                   vertex_parts: torch.Tensor) -> torch.Tensor:
    """(N,) bool: which rest-pose `points` (N, 3) of body part `parts` (N,) lie on the face
    (head or eyes, within the FACE_* box). rest_vertices (V, 3), vertex_parts (V,): the rest
    body the box is measured on."""
    head, eyes = PART_NAMES.index("head"), PART_NAMES.index("eyes")
    eyes_y = float(rest_vertices[vertex_parts == eyes, 1].mean())
    head_centre_z = float(rest_vertices[vertex_parts == head, 2].mean())
    points, parts = torch.as_tensor(points), torch.as_tensor(parts)
    return (((parts == head) | (parts == eyes)) & (points[:, 1] < eyes_y + FACE_ABOVE_EYES)
            & (points[:, 1] > eyes_y - FACE_BELOW_EYES) & (points[:, 2] > head_centre_z + FACE_FRONT))


PORTRAIT_DROP = 0.12  # metres below the neck's lowest point a portrait keeps in frame
PORTRAIT_PARTS = ("neck", "torso", "upper_arm.L", "upper_arm.R")

# Anny -> world: (x, y, z) -> (x, z, -y), a proper rotation (det +1).
ANNY_TO_WORLD = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _part_of_bone(bone: str) -> str:
    side = bone[-2:] if bone.endswith((".L", ".R")) else ""
    if bone in ("head", "jaw") or bone.startswith(("tongue", "levator", "special", "oris", "temporalis")):
        return "head"
    if bone.startswith("eye"):
        return "eyes"
    if bone.startswith("neck"):
        return "neck"
    if bone.startswith(("upperarm", "shoulder", "clavicle")):
        return "upper_arm" + side if not bone.startswith("clavicle") else "torso"
    if bone.startswith("lowerarm"):
        return "lower_arm" + side
    if bone.startswith(("wrist", "finger", "metacarpal")):
        return "hand" + side
    if bone.startswith(("upperleg", "pelvis")):
        return "upper_leg" + side if bone.startswith("upperleg") else "torso"
    if bone.startswith("lowerleg"):
        return "lower_leg" + side
    if bone.startswith(("foot", "toe")):
        return "foot" + side
    return "torso"  # root, spine


@dataclass
class BodyParams:
    """Parameters of B Anny bodies.

    Attributes:
        pose: (B, len(POSE_BONES), 3) axis-angle rotations, radians (see module docstring).
        phenotype: (B, 6) in [0, 1], order `PHENOTYPE_NAMES` (0.5 = average).
        expression: (B, 52) facial actions in [0, 1] (Anny's ARKit-style names).
    """

    pose: torch.Tensor
    phenotype: torch.Tensor
    expression: torch.Tensor

    @classmethod
    def neutral(cls, batch: int = 1, n_expressions: int = 52) -> "BodyParams":
        return cls(torch.zeros(batch, len(POSE_BONES), 3), torch.full((batch, 6), 0.5),
                   torch.zeros(batch, n_expressions))

    def detach(self) -> "BodyParams":
        return BodyParams(self.pose.detach().clone(), self.phenotype.detach().clone(),
                          self.expression.detach().clone())

    def to_dict(self, expression_names: list[str] | None = None, index: int = 0) -> dict:
        """JSON-ready parameters of body `index`, keyed by bone / phenotype / action names."""
        expr = self.expression[index].tolist()
        names = expression_names or [str(i) for i in range(len(expr))]
        return {
            "pose_axis_angle": {b: [round(v, 6) for v in r] for b, r in
                                zip(POSE_BONES, self.pose[index].tolist())},
            "phenotype": {n: round(v, 6) for n, v in zip(PHENOTYPE_NAMES, self.phenotype[index].tolist())},
            "expression": {n: round(v, 6) for n, v in zip(names, expr) if abs(v) > 1e-4},
        }

    @classmethod
    def from_dict(cls, data: dict, expression_names: list[str]) -> "BodyParams":
        pose = torch.tensor([data["pose_axis_angle"].get(b, [0.0, 0.0, 0.0]) for b in POSE_BONES])
        phen = torch.tensor([data["phenotype"].get(n, 0.5) for n in PHENOTYPE_NAMES])
        expr = torch.tensor([data.get("expression", {}).get(n, 0.0) for n in expression_names])
        return cls(pose[None].float(), phen[None].float(), expr[None].float())


@dataclass
class BodyOutput:
    """Posed bodies in world coordinates, CPU float32 tensors.

    Attributes:
        vertices: (B, V, 3) metres, world frame.
        keypoints: (B, K, 3) COCO-style keypoints (`AnnyBody.keypoint_names`), world frame.
        bone_heads: (B, J, 3) head position of every Anny bone, world frame.
    """

    vertices: torch.Tensor
    keypoints: torch.Tensor
    bone_heads: torch.Tensor = field(default=None)


class AnnyBody(torch.nn.Module):
    """Anny with facial actions, float32, in the humanmv world frame.

    `forward(params) -> BodyOutput`. Anny itself runs on `device`; its outputs and the mesh
    data (faces, UVs, part labels; the same topology serves the body and head modes) are CPU
    tensors, like all stage data, so fitting, texturing and rendering work the same whatever
    the device (gradients flow through the transfer).
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        super().__init__()
        configure_third_party_caches()
        import anny  # imported late: its import sets up Warp and reads ANNY_CACHE_DIR

        model = anny.Anny(facial_actions="all", skinning_method="lbs").float().to(device)
        model.requires_grad_(False)
        self.anny = model
        self.keypoint_regressor = anny.KeypointsRegressor.coco(model)
        self.keypoint_names: list[str] = list(self.keypoint_regressor.labels)
        self.expression_names: list[str] = list(model.facial_action_labels)
        self.bone_names: list[str] = list(model.bone_labels)
        self._pose_index = torch.tensor([self.bone_names.index(b) for b in POSE_BONES])
        self.register_buffer("to_world", ANNY_TO_WORLD.to(device), persistent=False)
        # The topology is stage data (CPU), not a buffer that moves with the model.
        self.faces = model.get_triangular_faces().long().cpu()
        self.uvs = model.texture_coordinates.float().cpu()
        self.uv_faces = model.face_texture_coordinate_indices.long().cpu()
        self.vertex_parts = self._vertex_parts().cpu()
        self.face_labels = self._face_parts()
        self._face_mask: torch.Tensor | None = None  # face_vertex_mask, computed on first use

    @property
    def device(self) -> torch.device:
        """Where Anny runs (its outputs come back on the CPU)."""
        return self.to_world.device

    @property
    def num_vertices(self) -> int:
        return self.anny.template_vertices.shape[0]

    def _vertex_parts(self) -> torch.Tensor:
        """(V,) part label of each vertex: the part of its highest-weight bone."""
        bone_part = torch.tensor([PART_NAMES.index(_part_of_bone(b)) for b in self.bone_names])
        dominant = self.anny.vertex_bone_indices.gather(
            1, self.anny.vertex_bone_weights.argmax(1, keepdim=True))[:, 0]
        return bone_part.to(dominant.device)[dominant.long()].cpu()

    def _face_parts(self) -> torch.Tensor:
        """(F,) part label of each face: the most common label of its three vertices."""
        labels = self.vertex_parts[self.faces]  # (F, 3)
        return torch.mode(labels, dim=1).values

    def forward(self, params: BodyParams) -> BodyOutput:
        B = params.pose.shape[0]
        J = len(self.bone_names)
        rot = axis_angle_to_matrix(params.pose.to(self.device))  # (B, P, 3, 3)
        transforms = torch.eye(4, device=self.device).repeat(B, J, 1, 1)
        transforms[:, self._pose_index, :3, :3] = rot
        out = self.anny(pose_parameters=transforms, phenotype_kwargs=params.phenotype.to(self.device),
                        facial_actions=params.expression.to(self.device))
        to_world = self.to_world
        vertices = out["vertices"] @ to_world.T
        keypoints = self.keypoint_regressor(out) @ to_world.T
        heads = out["bone_poses"][..., :3, 3] @ to_world.T
        return BodyOutput(vertices=vertices.cpu(), keypoints=keypoints.cpu(), bone_heads=heads.cpu())

    def skin_transforms(self, params: BodyParams) -> torch.Tensor:
        """(B, J, 4, 4) float32 CPU world-frame skinning matrix of every Anny bone at `params`:
        Anny's linear blend skinning takes a rest vertex r to sum_j w_j M_j [r; 1] (weights
        `anny.vertex_bone_weights` over `anny.vertex_bone_indices`, up to 9 per vertex). Anny's
        rest is not pose zero, so a point given at another pose p0 is carried to pose p by
        B(p) B(p0)^-1 with B the blend of its weights (`shells.skinning`)."""
        B = params.pose.shape[0]
        J = len(self.bone_names)
        rot = axis_angle_to_matrix(params.pose.to(self.device))
        transforms = torch.eye(4, device=self.device).repeat(B, J, 1, 1)
        transforms[:, self._pose_index, :3, :3] = rot
        out = self.anny(pose_parameters=transforms, phenotype_kwargs=params.phenotype.to(self.device),
                        facial_actions=params.expression.to(self.device))
        skin = out["bone_poses"] @ torch.linalg.inv(out["rest_bone_poses"])  # (B, J, 4, 4) Anny frame
        to_world = torch.eye(4, device=self.device)
        to_world[:3, :3] = self.to_world
        return (to_world @ skin @ to_world.T).cpu()

    def mesh(self, vertices: torch.Tensor, texture: torch.Tensor | None = None,
             vertex_colors: torch.Tensor | None = None):
        """A `render.Mesh` of one posed body. vertices: (V, 3) world."""
        from humanmv.render import Mesh

        return Mesh(vertices=vertices.detach().float(), faces=self.faces, vertex_colors=vertex_colors,
                    uvs=self.uvs, uv_faces=self.uv_faces, texture=texture, face_labels=self.face_labels)

    def head_vertex_mask(self) -> torch.Tensor:
        """(V,) bool: vertices of the head (incl. eyes)."""
        return (self.vertex_parts == PART_NAMES.index("head")) | (
            self.vertex_parts == PART_NAMES.index("eyes"))

    def face_vertex_mask(self) -> torch.Tensor:
        """(V,) bool: the face (brow to chin, ear to ear) on the rest body, `in_face_region`'s rule."""
        if self._face_mask is None:
            with torch.no_grad():
                rest = self(BodyParams.neutral(1, len(self.expression_names))).vertices[0]
            self._face_mask = in_face_region(rest, self.vertex_parts, rest, self.vertex_parts)
        return self._face_mask

    def portrait_vertex_mask(self, vertices: torch.Tensor, drop: float = PORTRAIT_DROP) -> torch.Tensor:
        """(V,) bool: what a portrait frames of the posed body `vertices` (V, 3): the head, and
        the neck, torso and upper arms down to `drop` metres below the neck's lowest point
        (collar and shoulders; a raised hand is never part of it)."""
        parts = torch.isin(self.vertex_parts, torch.tensor([PART_NAMES.index(n) for n in PORTRAIT_PARTS]))
        neck = self.vertex_parts == PART_NAMES.index("neck")
        floor = float(vertices[neck, 1].min()) - drop
        return self.head_vertex_mask() | (parts & (vertices[:, 1] >= floor))


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation, differentiable at zero (Rodrigues with
    a Taylor expansion for small angles)."""
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = torch.sqrt(theta2.clamp_min(1e-12))
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    Kx = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(Kx)
    return eye + a * Kx + b * (Kx @ Kx)
