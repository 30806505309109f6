"""A GLB's animation clips, and the viewer's choice of clip.

The page's 3D viewer is gradio's own `Model3D` (the Babylon.js viewer bundled with gradio:
offline, nothing fetched), which plays a file's first animation, in a loop, and offers no clip
choice. So choosing a clip means showing a copy of avatar.glb whose `animations` list starts
with that clip: only the JSON chunk changes (the list is reordered; nothing in glTF refers to
an animation by index), the binary chunk is copied byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from humanmv.io.atomic import atomic_write_bytes
from humanmv.io.glb import glb_container, read_glb

PREFERRED_CLIP = "idle"
"""The clip the page starts with when the avatar has it (it moves, unlike the photo's pose)."""


def glb_clip_names(path: str | Path) -> list[str]:
    """The animation clips of the GLB at `path`, in file order ([] for a static one)."""
    from humanmv.rig import clip_names

    return clip_names(path)


def first_clip(names: list[str]) -> str | None:
    """The clip to show first: PREFERRED_CLIP when there, else the file's first."""
    return PREFERRED_CLIP if PREFERRED_CLIP in names else (names[0] if names else None)


def glb_with_clip_first(src: str | Path, clip: str, dst: str | Path) -> Path:
    """Write `dst`: the GLB `src` with the clip named `clip` moved to the front of its
    animations (what viewers that play the first clip play). ValueError for an unknown clip."""
    names = glb_clip_names(src)
    if clip not in names:
        raise ValueError(f"{Path(src).name} has no clip {clip!r}; it has {names}")
    gltf, binary = read_glb(src)
    i = names.index(clip)
    animations = gltf["animations"]
    gltf["animations"] = [animations[i]] + animations[:i] + animations[i + 1:]
    return atomic_write_bytes(dst, glb_container(gltf, binary), fsync=False)
