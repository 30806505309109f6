"""Run inside Blender: import a GLB with Blender's own glTF importer, play one clip at one frame
and write what Blender made of it as JSON.

    blender -b --factory-startup --python blender_pose.py -- FILE.glb NUMPY_DIR CLIP FRAME OUT.json

NUMPY_DIR: a folder holding numpy for Blender's Python (the importer needs numpy; Debian's
blender only recommends python3-numpy), used when Blender finds none of its own.
OUT.json: armature name, bone names, each action's frame range, Blender's scene fps, and the
skinned mesh's vertices as Blender evaluates them at FRAME (depsgraph, armature and shape keys
applied, object transform applied), in Blender's Z-up world, in Blender's vertex order.
"""

import importlib.util
import json
import sys

import bpy

glb, numpy_dir, clip, frame, out = sys.argv[sys.argv.index("--") + 1:]
if importlib.util.find_spec("numpy") is None:
    sys.path.append(numpy_dir)
import numpy  # noqa: E402

# Blender 3.4's glTF importer still says `numpy.bool`, an alias numpy 1.24-1.26 removed (2.0
# brought it back); give it the alias rather than depend on which numpy the set-up found.
if not hasattr(numpy, "bool"):
    numpy.bool = numpy.bool_
bpy.ops.import_scene.gltf(filepath=glb)
scene = bpy.context.scene
armatures = [o for o in scene.objects if o.type == "ARMATURE"]
meshes = [o for o in scene.objects if o.type == "MESH" and any(m.type == "ARMATURE" for m in o.modifiers)]
assert len(armatures) == 1 and len(meshes) == 1, (armatures, meshes)
armature, mesh = armatures[0], meshes[0]
# The importer makes one action per glTF animation and target: "<clip>_<armature>" for the
# bones, "<clip>_<mesh>" for the shape keys (the morph target's weight).
armature.animation_data.action = bpy.data.actions[f"{clip}_{armature.name}"]
keys = mesh.data.shape_keys
if keys is not None:
    keys.animation_data.action = bpy.data.actions[f"{clip}_{mesh.name}"]
scene.frame_set(int(frame))
evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
posed = evaluated.to_mesh()
world = mesh.matrix_world
report = {
    "armature": armature.name,
    "bones": [b.name for b in armature.data.bones],
    "actions": {a.name: list(a.frame_range) for a in bpy.data.actions},
    "fps": scene.render.fps / scene.render.fps_base,
    "frame": scene.frame_current,
    "shape_keys": {k.name: k.value for k in keys.key_blocks} if keys is not None else {},
    "vertices": [list(world @ v.co) for v in posed.vertices],
}
evaluated.to_mesh_clear()
with open(out, "w") as f:
    json.dump(report, f)
