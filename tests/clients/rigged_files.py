"""Rigged and static GLBs of a synthetic Anny avatar (tests/rig/rig_cases.py) for the client
tests, written once per test module."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rig"))
from rig_cases import dressed_avatar, synthetic_avatar  # noqa: E402


def write_rigged_and_static(body, folder: Path, seed: int = 2, dressed: bool = False) -> dict:
    """{"rig", "avatar", "rigged": path, "static": path} in `folder`; `dressed`: the avatar wears
    the surface stage's offsets, a skirt and a bun (`rig_cases.dressed_avatar`)."""
    from humanmv.io.glb import save_glb
    from humanmv.rig import build_rig, save_rigged_glb

    avatar = (dressed_avatar if dressed else synthetic_avatar)(body, seed=seed)
    rig = build_rig(body, avatar)
    m = avatar.mesh
    return {"rig": rig, "avatar": avatar, "rigged": save_rigged_glb(folder / "rigged.glb", rig),
            "static": save_glb(folder / "static.glb", m.vertices, m.faces, m.uvs, m.uv_faces, m.texture)}
