"""Clothes and hair as geometry for the engine's clothed presets: an outfit of `ShellSpec`s drawn
to match a subject's painted `Appearance` (a skirt shell where the skirt is painted, long hair
where the hair is long), and the colours of the shells that have their own UV charts.

Shells that offset the body's surface show the body texels `paint_texture` already painted in
the garment's colour; the others (skirts, dresses, coat tails, hair curtains, buns, ponytails,
hats) are painted here, in their charts, with the same colours and patterns.
"""

from __future__ import annotations

import numpy as np
import torch

from humanmv.data.appearance import Appearance, _pattern
from humanmv.render import Mesh
from humanmv.render.uv_space import rasterize_uv
from humanmv.shells.garments import ShellSpec
from humanmv.shells.shell import CHART_OF_KIND, Shell


def sample_outfit(rng: np.random.Generator, look: Appearance) -> list[ShellSpec]:
    """The garment and hair shells of a subject wearing `look` (drawn from `rng` only)."""
    u = lambda a, b: round(float(rng.uniform(a, b)), 4)  # noqa: E731
    specs: list[ShellSpec] = []
    if look.top in ("t-shirt", "long-sleeve", "tank-top") and look.bottom != "dress" and rng.uniform() < 0.65:
        if look.top == "long-sleeve" and rng.uniform() < 0.45:
            specs.append(ShellSpec("coat", {"looseness": u(0.025, 0.045), "length": u(0.25, 0.8),
                                            "flare": u(0.0, 0.05)}))
        else:
            sleeves = {"t-shirt": 1, "long-sleeve": 2, "tank-top": 0}[look.top]
            specs.append(ShellSpec("loose-top", {"looseness": u(0.012, 0.035), "sleeves": sleeves}))
    if look.bottom == "trousers":
        specs.append(ShellSpec("trousers", {"width": u(0.008, 0.05)}))
    elif look.bottom == "shorts":
        specs.append(ShellSpec("shorts", {"width": u(0.01, 0.04)}))
    elif look.bottom == "skirt":
        specs.append(ShellSpec("skirt", {"hem": u(-0.05, 0.4), "flare": u(0.0, 0.1), "gap": u(0.008, 0.02)}))
    else:
        specs.append(ShellSpec("dress", {"hem": u(0.1, 0.7), "flare": u(0.0, 0.12), "gap": u(0.01, 0.02)}))
    specs.append(ShellSpec("shoes", {"thickness": u(0.006, 0.012)}))
    hair = None
    if look.hair_style == "short":
        hair = ShellSpec("short-hair", {"thickness": u(0.008, 0.015)})
    elif look.hair_style == "medium":
        pick = int(rng.integers(4))
        hair = [ShellSpec("curly-hair", {"thickness": u(0.025, 0.045)}),
                ShellSpec("bun", {"radius": u(0.035, 0.055)}),
                ShellSpec("ponytail", {"length": u(0.12, 0.3)}),
                ShellSpec("short-hair", {"thickness": u(0.015, 0.025), "front": 0.045, "back": -0.07})][pick]
    elif look.hair_style == "long":
        hair = ShellSpec("long-hair", {"length": u(0.15, 0.45), "volume": u(0.0, 0.05)})
    if hair is not None:
        specs.append(hair)
    if rng.uniform() < 0.12 and (hair is None or hair.kind in ("short-hair", "long-hair")):
        colour = np.clip(rng.uniform(0.05, 0.95, 3), 0, 1)
        kind = "hat" if rng.uniform() < 0.5 else "beanie"
        specs.append(ShellSpec(kind, {"brim": u(0.04, 0.08), "gap": u(0.015, 0.025),
                                      "r": colour[0], "g": colour[1], "b": colour[2]}))
    return specs


def _chart_colour(shell: Shell, look: Appearance) -> tuple[list[float], str]:
    """The base colour and pattern of a charted shell."""
    if shell.kind == "skirt":
        return look.bottom_colour, look.bottom_pattern
    if shell.kind in ("dress", "coat"):
        return look.top_colour, look.top_pattern
    if shell.kind in ("hat", "beanie"):
        p = shell.params
        return [p.get("r", 0.3), p.get("g", 0.3), p.get("b", 0.3)], "solid"
    return look.hair, "solid"


def paint_charts(texture: torch.Tensor, shells: list[Shell], look: Appearance,
                 rng: np.random.Generator) -> torch.Tensor:
    """`texture` (S, S, 3) with the charts of the charted `shells` (bind positions) painted."""
    charted = [s for s in shells if s.kind in CHART_OF_KIND]
    if not charted:
        return texture
    S = texture.shape[0]
    verts, faces, uv_faces, uvs, owner = [], [], [], [], []
    nv = nt = 0
    for i, s in enumerate(charted):
        verts.append(s.vertices.detach())
        faces.append(s.faces + nv)
        uvs.append(s.uvs)
        uv_faces.append(s.uv_faces + nt)
        owner.append(torch.full((s.faces.shape[0],), i))
        nv += s.vertices.shape[0]
        nt += s.uvs.shape[0]
    mesh = Mesh(torch.cat(verts), torch.cat(faces), uvs=torch.cat(uvs), uv_faces=torch.cat(uv_faces))
    raster = rasterize_uv(mesh, S)
    which = torch.where(raster.mask, torch.cat(owner)[raster.face_id.clamp_min(0)], -1)
    out = texture.clone()
    for i, s in enumerate(charted):
        colour, pattern = _chart_colour(s, look)
        paint = _pattern(pattern, torch.tensor(colour, dtype=torch.float32), raster.position, rng)
        if colour is look.hair:  # strands
            paint = paint * (1 + 0.08 * torch.sin(raster.position[..., 0] * 400))[..., None]
        out = torch.where((which == i)[..., None], paint, out)
    return out.clamp(0, 1)
