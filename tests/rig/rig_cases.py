"""Test avatars for the rig tests: a synthetic Anny body (non-average phenotype, a pose on every
posed bone, a rigid placement that turns and moves it) with a small texture, built in ~1 s
from the session's AnnyBody. Imported by tests/rig, tests/io and tests/clients."""

from __future__ import annotations

import math

import numpy as np
import torch


def quadrant_texture(size: int = 32) -> torch.Tensor:
    """(size, size, 3) float texture of four saturated colours (no white: a client's background
    is told from the body by colour)."""
    tex = np.zeros((size, size, 3), np.float32)
    h = size // 2
    tex[:h, :h], tex[:h, h:], tex[h:, :h], tex[h:, h:] = (0.8, 0.1, 0.1), (0.1, 0.7, 0.1), (0.1, 0.2, 0.8), (0.7, 0.6, 0.1)
    return torch.from_numpy(tex)


def synthetic_avatar(body, seed: int = 0, placed: bool = True):
    """A `recon.Avatar` of a posed, placed Anny body (world frame) with a 32 px texture."""
    from humanmv.body.anny_model import POSE_BONES, BodyParams
    from humanmv.recon.avatar import Avatar

    g = torch.Generator().manual_seed(seed)
    params = BodyParams.neutral(n_expressions=len(body.expression_names))
    params.phenotype = 0.3 + 0.4 * torch.rand(1, 6, generator=g)
    params.pose = 0.25 * torch.randn(1, len(POSE_BONES), 3, generator=g)
    params.expression[0, :3] = 0.5
    with torch.no_grad():
        verts = body(params).vertices[0]
    angle = math.radians(25.0) if placed else 0.0
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    centre = torch.tensor([0.0, -0.1, 0.02]) if placed else torch.zeros(3)
    translation = torch.tensor([0.1, 0.05, -0.2]) if placed else torch.zeros(3)
    placed_verts = (verts - centre) @ rotation.T + centre + translation
    mesh = body.mesh(placed_verts, texture=quadrant_texture())
    return Avatar("body", mesh, params, rotation, translation, centre, "none")


def dressed_avatar(body, seed: int = 0, gap: float = 0.03):
    """`synthetic_avatar` as the surface stage leaves one: offsets (up to 2 cm on the torso and
    thighs) and a skirt `gap` m off the legs plus a bun, each shell placed with the body."""
    from humanmv.recon.surface import SurfaceResult
    from humanmv.render.mesh import vertex_normals
    from humanmv.shells.garments import ShellSpec, build_shells
    from humanmv.shells.shell import BindBody, ShellPoser

    avatar = synthetic_avatar(body, seed=seed)
    specs = [ShellSpec("skirt", {"gap": gap, "flare": 0.05, "hem": 0.2}), ShellSpec("bun")]
    bind = BindBody.of(body, avatar.params)
    shells = build_shells(bind, specs)
    parts = bind.part_mask("torso", "upper_leg")
    offsets = torch.where(parts, 0.02 * torch.sigmoid(bind.vertices[:, 1] * 5.0), torch.zeros(()))
    place = lambda v: (v - avatar.centre) @ avatar.rotation.T + avatar.centre + avatar.translation  # noqa: E731
    verts = avatar.mesh.vertices
    verts = verts + offsets[:, None] * vertex_normals(verts, body.faces)
    poser = ShellPoser(body, avatar.params)
    posed = [place(poser.pose(s, avatar.params.pose[0]).float()) for s in shells]
    surface = SurfaceResult(offsets, specs, shells, verts, posed)
    return avatar.dressed(surface)
