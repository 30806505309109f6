"""Forward kinematics, clip sampling and linear blend skinning with glTF 2.0's semantics, in torch.

    local  = sample_clip(rig, clip, times)          (N, J, 4, 4) joint-local transforms
    world  = forward_kinematics(rig.parents, local) (N, J, 4, 4) joint world transforms
    verts  = skin_vertices(rig, world, morph)       (N, V, 3)    world positions

`skin_vertices` is what a glTF client computes for a skinned mesh node at the scene root:
v = sum_k w_k * world[j_k] @ inverse_bind[j_k] @ (bind + morph * photo_offset) (the morph target
is applied before the skin, as glTF specifies).
"""

from __future__ import annotations

import torch

from humanmv.rig.rotations import quaternion_to_matrix, rigid, slerp

def forward_kinematics(parents: list[int], local: torch.Tensor) -> torch.Tensor:
    """(..., J, 4, 4) local joint transforms -> (..., J, 4, 4) world transforms, parents before
    children (parents[j] < j, -1 for a root)."""
    world = [None] * len(parents)
    for j, p in enumerate(parents):
        world[j] = local[..., j, :, :] if p < 0 else world[p] @ local[..., j, :, :]
    return torch.stack(world, dim=-3)


def skin_vertices(rig, joint_world: torch.Tensor, morph: torch.Tensor | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(T, V, 3) skinned vertices of `rig` for joint world transforms (T, J, 4, 4).

    morph: (T,) weights of the rig's photo_offset morph target (None: 0). Computed in `dtype`.
    The per-vertex blend of the joints' skinning matrices is one (V, J) x (J, T * 12) product
    for all frames at once (the weight matrix has 4 non-zeros per row)."""
    J = len(rig.joint_names)
    if joint_world.ndim != 4 or joint_world.shape[1:] != (J, 4, 4):
        raise ValueError(f"joint_world must be (T, {J}, 4, 4), got {tuple(joint_world.shape)}")
    T, V = joint_world.shape[0], rig.vertices.shape[0]
    skin = (joint_world.double() @ rig.inverse_bind.double())[..., :3, :].to(dtype)  # (T, J, 3, 4)
    dense = torch.zeros(V, J, dtype=dtype).scatter_add_(1, rig.joints, rig.weights.to(dtype))
    blend = (dense @ skin.permute(1, 0, 2, 3).reshape(J, T * 12)).reshape(V, T, 3, 4)
    moved = torch.einsum("vtij,vj->tvi", blend[..., :3], rig.vertices.to(dtype))
    if morph is not None and rig.photo_offset is not None:  # the skin is linear in the point
        offset = torch.einsum("vtij,vj->tvi", blend[..., :3], rig.photo_offset.to(dtype))
        moved = moved + morph.to(dtype)[:, None, None] * offset
    return moved + blend[..., 3].transpose(0, 1)


def sample_clip(clip, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip's local joint transforms (N, J, 4, 4) float64 and morph weights (N,) at `times`
    (N,) seconds, interpolated as glTF's LINEAR samplers are (slerp for rotations). A looping
    clip repeats (time modulo its duration); any other holds its last key."""
    t = times.double()
    keys = clip.times.double()
    duration = float(keys[-1])
    if duration <= 0:
        t = torch.zeros_like(t)
    elif clip.loop:
        t = torch.remainder(t, duration)
    t = t.clamp(0, duration)
    hi = torch.searchsorted(keys, t, right=True).clamp(1, max(keys.shape[0] - 1, 1))
    lo = hi - 1
    if keys.shape[0] == 1:
        hi = lo = torch.zeros_like(hi)
        alpha = torch.zeros_like(t)
    else:
        alpha = ((t - keys[lo]) / (keys[hi] - keys[lo])).clamp(0, 1)
    rotations = clip.rotations.double()
    q = slerp(rotations[lo], rotations[hi], alpha[:, None].expand(-1, rotations.shape[1]))
    a = alpha[:, None, None]
    translations = clip.translations.double()
    trans = (1 - a) * translations[lo] + a * translations[hi]
    morph = clip.morph.double()
    weight = (1 - alpha) * morph[lo] + alpha * morph[hi]
    return rigid(quaternion_to_matrix(q), trans), weight


def animate_vertices(rig, clip, times: torch.Tensor, dtype: torch.dtype = torch.float32
                     ) -> torch.Tensor:
    """(N, V, 3) the rig's vertices playing `clip` at `times` (N,) seconds."""
    local, morph = sample_clip(clip, times)
    return skin_vertices(rig, forward_kinematics(rig.parents, local), morph, dtype=dtype)
