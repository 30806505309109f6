"""`Rig`: a skinned, animatable avatar in glTF's terms, and `build_rig`, the rig of an `Avatar`.

Frames and semantics (exactly glTF 2.0's skin, so that what `io.gltf_skin` writes is this):

- World: ours (metres, Y up, facing +Z), which is glTF's.
- Joints: Anny's bones, named by Anny's labels, parents before children (index 0 = "root").
  A joint's *local* transform is relative to its parent's; its world transform is the product
  down the chain (`skinning.forward_kinematics`).
- Bind pose: the fitted person (phenotype, expression) in Anny's pose zero, unplaced. The
  vertices are that body, `inverse_bind` (J, 4, 4) the inverses of the joints' world transforms
  in it, so a joint at its bind transform leaves its vertices where they are.
- Skin: 4 influences per vertex (Anny's largest 4 of up to 9, renormalised to sum 1):
  v = sum_k weights[k] * world[joints[k]] @ inverse_bind[joints[k]] @ (bind + m * photo_offset).
- `photo_offset` (V, 3) is a morph target (in bind space, added before skinning) that makes the
  4-influence skin at the photo's pose reproduce the exported avatar mesh exactly (Anny blends up
  to 9 bones and from its own rest pose, so the plain skin misses it by millimetres); the "photo"
  clip sets its weight m to 1, every other clip to 0.
- `pose_local` (J, 4, 4) / `pose_morph`: the pose a viewer shows with no clip playing (the glTF
  nodes' own transforms and the mesh's default morph weight): the photo's pose for a rig built
  here, so a viewer shows the avatar as in the photo.

Clips hold node-local rotations (unit quaternions, x y z w) and translations at key times, the
way glTF animations do; `motions` makes them from Anny's pose space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from humanmv.render import Mesh
from humanmv.rig.rotations import inverse_rigid, matrix_to_quaternion, quaternion_to_matrix, rigid

INFLUENCES = 4
PHOTO_CLIP = "photo"
PHOTO_MORPH = "photo_offset"


@dataclass
class Clip:
    """An animation of a rig's joints, as glTF keys.

    times: (T,) float64 seconds, increasing from 0. rotations: (T, J, 4) unit quaternions
    (x, y, z, w), each joint's local rotation. translations: (T, J, 3) local translations (m).
    morph: (T,) weight of the rig's photo_offset morph target. loop: the clip repeats (its last
    key equals its first, so playing it in a loop has no jump).
    """

    name: str
    times: torch.Tensor
    rotations: torch.Tensor
    translations: torch.Tensor
    morph: torch.Tensor
    loop: bool = True

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def keys(self) -> int:
        return int(self.times.shape[0])

    def local(self) -> torch.Tensor:
        """(T, J, 4, 4) float64 local joint transforms at the keys."""
        return rigid(quaternion_to_matrix(self.rotations.double()), self.translations.double())


@dataclass
class Rig:
    """A skinned mesh, its skeleton and its clips (see the module docstring for the semantics).

    joint_names: J names. parents: J parent indices, -1 for the root, parents before children.
    inverse_bind: (J, 4, 4) float64. vertices: (V, 3) float32 bind positions (world).
    faces: (F, 3) int64. uvs: (T, 2) float32 v up; uv_faces: (F, 3) int64 into uvs, or None
    (uvs indexed like vertices). texture: (Ht, Wt, 3) float32 in [0, 1], row 0 = top, or None.
    joints: (V, 4) int64 and weights: (V, 4) float32 (rows sum to 1; unused slots 0 / 0).
    photo_offset: (V, 3) float32 morph target or None. pose_local: (J, 4, 4) float64 default
    local transforms; pose_morph: default morph weight. clips: by name, in file order.
    """

    joint_names: list[str]
    parents: list[int]
    inverse_bind: torch.Tensor
    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor
    uv_faces: torch.Tensor | None
    texture: torch.Tensor | None
    joints: torch.Tensor
    weights: torch.Tensor
    pose_local: torch.Tensor
    photo_offset: torch.Tensor | None = None
    pose_morph: float = 0.0
    clips: dict[str, Clip] = field(default_factory=dict)

    def __post_init__(self) -> None:
        J, V = len(self.joint_names), self.vertices.shape[0]
        if len(self.parents) != J or any(not -1 <= p < i for i, p in enumerate(self.parents)) \
                or self.parents[0] != -1:
            raise ValueError("parents must list one root first (-1) and every parent before its child")
        if self.inverse_bind.shape != (J, 4, 4) or self.pose_local.shape != (J, 4, 4):
            raise ValueError(f"inverse_bind and pose_local must be ({J}, 4, 4)")
        if self.joints.shape != (V, INFLUENCES) or self.weights.shape != (V, INFLUENCES):
            raise ValueError(f"joints and weights must be ({V}, {INFLUENCES})")
        if self.photo_offset is not None and self.photo_offset.shape != (V, 3):
            raise ValueError(f"photo_offset must be ({V}, 3)")
        for clip in self.clips.values():
            T = clip.keys
            if clip.rotations.shape != (T, J, 4) or clip.translations.shape != (T, J, 3) \
                    or clip.morph.shape != (T,):
                raise ValueError(f"clip {clip.name!r} has keys of the wrong shape")

    @property
    def bind_world(self) -> torch.Tensor:
        """(J, 4, 4) float64 world transforms of the joints in the bind pose."""
        return torch.linalg.inv(self.inverse_bind.double())

    @property
    def bind_local(self) -> torch.Tensor:
        """(J, 4, 4) float64 local transforms of the bind pose."""
        world = self.bind_world
        local = world.clone()
        for j, p in enumerate(self.parents):
            if p >= 0:
                local[j] = torch.linalg.inv(world[p]) @ world[j]
        return local

    def mesh(self, vertices: torch.Tensor | None = None) -> Mesh:
        """A `render.Mesh` of the rig's surface at `vertices` (V, 3) (default: the bind pose)."""
        v = self.vertices if vertices is None else vertices
        return Mesh(vertices=v.float(), faces=self.faces, uvs=self.uvs, uv_faces=self.uv_faces,
                    texture=self.texture)

    def describe(self) -> dict:
        """The rig, as avatar.json's "rig" section describes it (without the photo's pose)."""
        return {
            "joints": list(self.joint_names),
            "parents": list(self.parents),
            "influences": INFLUENCES,
            "bind_vertices": int(self.vertices.shape[0]),
            "photo_offset": None if self.photo_offset is None else {
                "morph_target": PHOTO_MORPH,
                "max_m": float(self.photo_offset.norm(dim=-1).max())},
            "clips": {name: {"keys": c.keys, "seconds": round(c.duration, 6), "loop": c.loop}
                      for name, c in self.clips.items()},
        }


def top_influences(weights: torch.Tensor, indices: torch.Tensor, k: int = INFLUENCES
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest of (V, N) sparse bone weights, renormalised: (V, k) int64 joints and
    float32 weights, largest first; slots without weight get joint 0 and weight 0 (glTF
    validators expect unused slots zeroed, not repeated joints)."""
    top = weights.float().topk(k, dim=1)
    w = top.values.clamp_min(0)
    w = w / w.sum(1, keepdim=True)
    j = indices.long().gather(1, top.indices)
    empty = w <= 0
    return torch.where(empty, 0, j), torch.where(empty, 0.0, w)


def build_rig(body, avatar, motions=None) -> Rig:
    """The rig of `avatar` (a `recon.Avatar` of an Anny body) with `body` (its `AnnyBody`).

    Bind pose: Anny at pose zero with the avatar's phenotype and expression (plus the surface
    stage's offsets along its normals, and its shells, each vertex skinned as its anchor body
    vertex, when the avatar has them); the "photo" clip
    (one key) holds its pose and rigid placement, and `photo_offset` makes that key give exactly
    `avatar.mesh.vertices`; `motions` (a list of `motions.Motion`, default: every built-in one)
    become the other clips. Raises ValueError for an avatar that is not an Anny body.
    """
    from humanmv.body.anny_model import ANNY_TO_WORLD, POSE_BONES, BodyParams
    from humanmv.rig import motions as motion_lib
    from humanmv.rig.skinning import forward_kinematics, skin_vertices

    if avatar.params is None:
        raise ValueError("only an Anny body can be rigged (the avatar has no body parameters)")
    anny = body.anny
    params = avatar.params
    zero = BodyParams(torch.zeros_like(params.pose), params.phenotype, params.expression)
    with torch.no_grad():
        out = anny(pose_parameters=None, phenotype_kwargs=zero.phenotype.to(body.device),
                   facial_actions=zero.expression.to(body.device))
    to_world = torch.eye(4, dtype=torch.float64)
    to_world[:3, :3] = ANNY_TO_WORLD.double()
    bind_world = to_world @ out["bone_poses"][0].double().cpu()
    # Anny computes in float32: make the rotations exactly orthonormal before inverting them.
    bind_world[:, :3, :3] = quaternion_to_matrix(matrix_to_quaternion(bind_world[:, :3, :3]))
    # Stored as float32 in the file: the rig holds what a reader will read back.
    inverse_bind = inverse_rigid(bind_world).float().double()
    vertices = (out["vertices"][0].float().cpu() @ ANNY_TO_WORLD.T).contiguous()
    joints, weights = top_influences(anny.vertex_bone_weights.cpu(), anny.vertex_bone_indices.cpu())
    if getattr(avatar, "offsets", None) is not None:  # the surface stage's offsets, along bind normals
        from humanmv.render.mesh import vertex_normals

        vertices = vertices + avatar.offsets[:, None].float() * vertex_normals(vertices, body.faces)
    for shell in getattr(avatar, "shells", None) or []:  # each shell vertex skinned as its anchor
        vertices = torch.cat([vertices, shell.vertices.detach().float()])
        joints = torch.cat([joints, joints[shell.anchors]])
        weights = torch.cat([weights, weights[shell.anchors]])
    mesh = avatar.mesh
    rig = Rig(joint_names=list(body.bone_names), parents=[int(p) for p in anny.bone_parents],
              inverse_bind=inverse_bind, vertices=vertices, faces=mesh.faces, uvs=mesh.uvs,
              uv_faces=mesh.uv_faces, texture=mesh.texture, joints=joints, weights=weights,
              pose_local=torch.eye(4, dtype=torch.float64).repeat(len(body.bone_names), 1, 1))
    rig.pose_local = rig.bind_local  # until the photo clip exists (motion_to_clip reads the bind pose only)

    photo = motion_lib.photo_motion(params.pose[0], POSE_BONES, avatar.rotation, avatar.centre,
                                    avatar.translation, bind_world[0, :3, 3])
    photo_clip = motion_lib.motion_to_clip(rig, photo, morph=1.0)
    clips = {PHOTO_CLIP: photo_clip}
    for motion in (motion_lib.builtin_motions() if motions is None else motions):
        clips[motion.name] = motion_lib.motion_to_clip(rig, motion)
    rig.clips = clips
    rig.pose_local, rig.pose_morph = photo_clip.local()[0], 1.0

    # The morph target: the bind-space offset whose skin at the photo's pose is the avatar mesh.
    world = forward_kinematics(rig.parents, rig.pose_local[None])
    blend = _blend_matrices(rig, world)[0]  # (V, 3, 4) float64
    target = mesh.vertices.double().cpu()
    unskinned = torch.linalg.solve(blend[:, :, :3], (target - blend[:, :, 3])[..., None])[..., 0]
    rig.photo_offset = (unskinned - vertices.double()).float()
    check = skin_vertices(rig, world, torch.ones(1, dtype=torch.float64), dtype=torch.float64)[0]
    assert float((check - target).abs().max()) < 1e-4, "the photo offset does not reproduce the mesh"
    return rig


def _blend_matrices(rig: Rig, joint_world: torch.Tensor) -> torch.Tensor:
    """(T, V, 3, 4) float64 per-vertex blended skinning matrices for (T, J, 4, 4) joint worlds."""
    skin = (joint_world.double() @ rig.inverse_bind.double())[..., :3, :]  # (T, J, 3, 4)
    w = rig.weights.double()
    return (skin[:, rig.joints] * w[None, :, :, None, None]).sum(2)


def quaternions_of(local: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) local transforms -> (..., 4) their rotations as unit quaternions (x, y, z, w)."""
    return matrix_to_quaternion(local[..., :3, :3])
