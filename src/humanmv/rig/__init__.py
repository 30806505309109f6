"""The rigged, animatable avatar: Anny's skeleton as a glTF skin, clips from Anny's pose space,
and linear blend skinning in torch with glTF's semantics.

    rig = build_rig(body, avatar)                 # skeleton.py: bind pose, skin, photo + built-in clips
    save_rigged_glb("avatar.glb", rig)            # io/gltf_skin.py: the skinned, animated GLB
    rig = load_rig("avatar.glb")                  # any humanmv rigged GLB, back to a Rig
    verts = animate_vertices(rig, rig.clips["walk"], times)   # skinning.py: (N, V, 3)
    clip_names("avatar.glb")                      # the clips in a GLB, without loading it

Names are imported on first use, so `import humanmv.rig` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Rig": "skeleton", "Clip": "skeleton", "build_rig": "skeleton", "top_influences": "skeleton",
    "PHOTO_CLIP": "skeleton",
    "Motion": "motions", "BUILTIN_MOTIONS": "motions", "builtin_motion": "motions",
    "builtin_motions": "motions", "load_motion": "motions", "motion_to_clip": "motions",
    "forward_kinematics": "skinning", "skin_vertices": "skinning", "sample_clip": "skinning",
    "animate_vertices": "skinning",
    "render_animation": "animate", "AnimationConfig": "animate",
}
_IO = {"save_rigged_glb", "load_rig", "clip_names"}

__all__ = sorted([*_EXPORTS, *_IO])


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"humanmv.rig.{_EXPORTS[name]}"), name)
    if name in _IO:
        return getattr(importlib.import_module("humanmv.io.gltf_skin"), name)
    raise AttributeError(f"module 'humanmv.rig' has no attribute {name!r}")
