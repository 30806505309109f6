"""Fuse generated views into one UV texture on a mesh, so that every view re-rendered from it
agrees with every other by construction.

A generator's views are 2D images: nothing forces view i and view i+1 to paint the same
surface point the same colour. Reconstruction removes that freedom. Every texel of the mesh's
UV layout is projected into each view; where the view sees it (in the frame, not occluded by
the mesh itself, inside the view's person mask with a margin, not at a grazing angle) it takes
the view's colour, weighted by how squarely it faces the camera (`facing ** sharpness`, so the
most frontal view dominates and a texel does not average blurry side views into mush) times the
view's trust (the input photo is trusted more than the generated views). Texels no view sees
keep the base texture (the prior's completion); the two blend smoothly through `base_weight`.

This is the colour half of seed 000's "views -> 3D" stage (multi-view colour fusion onto the
body mesh); `fuse_views_into_texture` takes plain tensors and returns plain tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humanmv.body.avatar_texture import push_pull_fill
from humanmv.render import Renderer
from humanmv.render.mesh import Mesh
from humanmv.render.uv_space import rasterize_uv, texel_views
from humanmv.views import Views, channels_first, lab_channels_last, rgb_channels_last_from_lab

MIN_FACING = 0.1  # cos of the viewing angle below which a view does not colour a texel
DEPTH_TOLERANCE = 0.02  # metres between a texel and the surface the view sees there


@dataclass
class FusionConfig:
    """sharpness: exponent on the facing cosine (higher: the most frontal view wins). 2, with
    a photo trust of 16 (`recon.reconstruct`), scored best on validation subjects
    (`benchmarks/mvdiff_fusion.py`).
    base_weight: weight of the base texture; a texel seen squarely by one view has weight
    1 (at 60 degrees off, 0.2 with sharpness 2), so the base shows only where no view sees
    the texel or views see it edge-on."""

    sharpness: float = 2.0
    base_weight: float = 1e-3


@dataclass
class FusedTexture:
    """texture: (S, S, 3) float32 [0, 1], row 0 = v 1 (our texture convention).
    weight: (S, S) float32 summed view weight per texel (0 = no view saw it).
    best_view: (S, S) int64 the view with the largest weight per texel, -1 where none."""

    texture: torch.Tensor
    weight: torch.Tensor
    best_view: torch.Tensor


def fuse_views_into_texture(mesh: Mesh, views: list[Views], renderer: Renderer,
                            trust: list[float] | None = None, base_texture: torch.Tensor | None = None,
                            config: FusionConfig | None = None, keep_base: torch.Tensor | None = None,
                            hue_sigma: list[float | None] | None = None,
                            hue_radius: list[float | None] | None = None) -> FusedTexture:
    """Colour `mesh`'s UV texture from groups of views of it.

    mesh:  the surface in the views' world frame, with `uvs` (and `uv_faces`); its `texture`
           (S, S, 3) is the base unless `base_texture` is given (one of them must be).
    views: groups of views with rgb and mask (e.g. the generated views, and the photo as a
           1-view group: a photo keeps its background pixels, the mask says what is the person).
    trust: weight of every view of each group (default 1 each; e.g. the photo above the
           generated views).
    hue_sigma: per group, None or sigma: that group's colour at a texel counts less the further
    its hue (CIE-Lab a*b*) lies from the base's there beyond HUE_SLACK, by exp(-(excess/sigma)^2),
    so generated views cannot paint purple on a white shirt the base continued from the photo.
    hue_radius: per group, None or r: that group's colour at a texel keeps its lightness (CIE L*)
    but its hue (a*b*) is pulled to within r of the base's there, so its shading and folds
    count while its colour stays the garment's the photo shows.
    keep_base: (S, S) bool texels that keep the base texture whatever the views say (the
    photo's own view of the face: generated faces fill only what it saw poorly or not at all).
    Returns a FusedTexture at the base texture's size; `best_view` counts the views of all
    groups in order.
    """
    cfg = config or FusionConfig()
    trust = [1.0] * len(views) if trust is None else list(trust)
    assert len(trust) == len(views), "one trust per group of views"
    base = base_texture if base_texture is not None else mesh.texture
    if base is None:
        raise ValueError("fuse_views_into_texture needs a base texture (mesh.texture or base_texture)")
    S = base.shape[0]
    raster = rasterize_uv(mesh, S)
    covered = raster.mask.reshape(-1)
    idx = torch.nonzero(covered)[:, 0]
    pos = raster.position.reshape(-1, 3)[idx]  # (N, 3) world
    nrm = raster.normal.reshape(-1, 3)[idx]
    weights, colours = [], []
    hue_sigma = [None] * len(views) if hue_sigma is None else list(hue_sigma)
    hue_radius = [None] * len(views) if hue_radius is None else list(hue_radius)
    assert len(hue_sigma) == len(views) == len(hue_radius), "one hue_sigma and hue_radius per group of views"
    base_texel = base.reshape(-1, 3)[idx].float()
    for group, group_trust, sigma, radius in zip(views, trust, hue_sigma, hue_radius):
        w, c = _view_weights(mesh, pos, nrm, group, group_trust, renderer, cfg)
        if sigma:
            w = w * _hue_agreement(c, base_texel, sigma)
        if radius is not None:
            c = _hue_pulled(c, base_texel, w > 0, radius)
        weights.append(w)
        colours.append(c)
    weight = torch.cat(weights)  # (C_all, N)
    colour = torch.cat(colours)  # (C_all, N, 3)

    total = weight.sum(0)  # (N,)
    fused = ((weight[..., None] * colour).sum(0) + cfg.base_weight * base_texel) / (total + cfg.base_weight)[:, None]
    if keep_base is not None:
        assert keep_base.shape == (S, S), (keep_base.shape, S)
        kept = keep_base.reshape(-1)[idx]
        fused = torch.where(kept[:, None], base_texel, fused)

    texture = torch.zeros(S * S, 3)
    texture[idx] = fused
    # Bleed past the UV islands so bilinear sampling at seams never reads empty texels.
    texture = push_pull_fill(texture.reshape(S, S, 3), covered.reshape(S, S)).clamp(0, 1)
    weight_map = torch.zeros(S * S)
    weight_map[idx] = total
    best = torch.full((S * S,), -1, dtype=torch.long)
    best[idx] = torch.where(total > 0, weight.argmax(0), torch.full_like(idx, -1))
    return FusedTexture(texture, weight_map.reshape(S, S), best.reshape(S, S))


HUE_SLACK = 6.0  # a*b* units of hue difference from the base that cost nothing


def _hue_agreement(colour: torch.Tensor, base: torch.Tensor, sigma: float) -> torch.Tensor:
    """colour: (C, N, 3), base: (N, 3) sRGB -> (C, N) in (0, 1]: 1 within HUE_SLACK of the
    base's a*b*, falling as a Gaussian of the excess."""
    ab = lambda x: lab_channels_last(x)[..., 1:]  # noqa: E731
    excess = ((ab(colour) - ab(base)[None]).norm(dim=-1) - HUE_SLACK).clamp_min(0)
    return torch.exp(-((excess / sigma) ** 2))


def _hue_pulled(colour: torch.Tensor, base: torch.Tensor, seen: torch.Tensor, radius: float) -> torch.Tensor:
    """colour: (C, N, 3), base: (N, 3) sRGB, seen: (C, N) bool -> (C, N, 3): where seen, the
    colour with its a*b* moved onto the disc of `radius` round the base's a*b* (L* kept)."""
    out = colour.clone()
    lab = lab_channels_last(colour[seen])  # (M, 3)
    base_ab = lab_channels_last(base)[..., 1:].expand(colour.shape[0], -1, -1)[seen]
    offset = lab[:, 1:] - base_ab
    scale = (radius / offset.norm(dim=-1).clamp_min(1e-6)).clamp(max=1.0)
    lab[:, 1:] = base_ab + offset * scale[:, None]
    out[seen] = rgb_channels_last_from_lab(lab)
    return out


def _view_weights(mesh: Mesh, pos: torch.Tensor, nrm: torch.Tensor, views: Views, trust: float,
                  renderer: Renderer, cfg: FusionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per view and texel: weight (C, N) (0 where the view does not see the texel) and the
    view's colour there (C, N, 3). pos, nrm: (N, 3) texel positions and unit normals, world."""
    seen = texel_views(mesh, pos, nrm, views.cameras, renderer, DEPTH_TOLERANCE)
    inside = (views.mask > 0.5).float()
    # Colours are sampled with the mask as weight (normalised convolution), so a texel at the
    # silhouette never blends in the background behind the person.
    alpha = seen.sample(inside[:, None])[..., 0]
    colour = seen.sample(channels_first(views.rgb * inside[..., None])) / alpha.clamp_min(1e-6)[..., None]
    facing = seen.facing
    visible = seen.visible & (alpha > 0.5) & (facing > MIN_FACING)
    weight = torch.where(visible, ((facing - MIN_FACING) / (1 - MIN_FACING)).clamp(0, 1) ** cfg.sharpness,
                         torch.zeros_like(facing))
    return weight * trust, colour
