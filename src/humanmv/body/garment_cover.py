"""What covers each slice of the body in a photo: skin or a garment, and its colour.

A garment covers a limb or the torso all round over a stretch of its length (a T-shirt to its
hem and sleeve ends, shorts to mid-thigh), so the body is cut into bands across each part's
length on the symmetric rest body (`body_bands`; left and right share their bands, so the two
sleeves and legs agree) and each band is labelled from the texels the photo saw squarely
(`label_bands`): skin where most of them resemble the face's skin colour, garment otherwise,
with that class's median colour. A band the photo did not see takes the nearest labelled band
of its part (unseen hands the face's skin), or, for a part the photo did not see at all, the nearest band up the chain
(forearm <- upper arm <- torso), so an unseen sleeve continues the shirt it belongs to.

Texels: the covered texels of a `TextureBuilder` (N of them, in its order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanmv.body.anny_model import PART_NAMES
from humanmv.views import lab_channels_last

BAND_WIDTH = 0.04  # metres along a part's length on the rest body
SKIN_DISTANCE = 14.0  # Lab distance to the face's skin (lightness at half weight) that still reads as skin
SKIN_BAND = 0.5  # skin fraction of a band's squarely seen texels from which the band is skin
CLEAR_GARMENT = 0.25  # below this skin fraction a band is clearly garment: skin-like texels there are mistakes
MIN_BAND_TEXELS = 15
INHERIT_BANDS = 3  # a part the photo did not see takes the median of this many bands up the chain
MIN_BAND_SHARE = 0.05  # of a band's texels, squarely seen, to label it
UNKNOWN, SKIN, GARMENT = 0, 1, 2

# Parts cut into bands (left and right pooled) and the part an unseen one continues.
BANDED_PARTS = ("torso", "neck", "upper_arm", "lower_arm", "hand", "upper_leg", "lower_leg", "foot")
CONTINUES = {"neck": "torso", "upper_arm": "torso", "lower_arm": "upper_arm", "hand": "lower_arm",
             "upper_leg": "torso", "lower_leg": "upper_leg", "foot": "lower_leg"}


def body_bands(rest_position: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bands across each banded part's length on the rest body.

    rest_position: (N, 3) texel positions on the symmetric rest body (world, metres, y up);
    part: (N,) part ids (`PART_NAMES`). Returns (band (N,) int, -1 off the banded parts;
    band_group (B,) index into `BANDED_PARTS`; band_centre (B, 3) mean rest position with x folded to |x|)."""
    band = np.full(len(part), -1, np.int64)
    torso = rest_position[part == PART_NAMES.index("torso")].mean(0)
    folded = rest_position.copy()
    folded[:, 0] = np.abs(folded[:, 0])  # left and right bands share one centre
    groups, centres = [], []
    for g, name in enumerate(BANDED_PARTS):
        ids = [PART_NAMES.index(n) for n in (name, name + ".L", name + ".R") if n in PART_NAMES]
        along = np.zeros(len(part))
        for p in ids:
            sel = part == p
            pts = rest_position[sel]
            centre = pts.mean(0)
            if name == "torso":
                axis = np.array([0.0, -1.0, 0.0])  # hem downwards
            else:  # the part's long axis, pointing away from the torso
                axis = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
                axis = axis if axis @ (centre - torso) > 0 else -axis
            t = (pts - centre) @ axis
            along[sel] = t - t.min()
        members = np.isin(part, ids)
        k = (along[members] // BAND_WIDTH).astype(np.int64)
        offset = len(groups)
        band[members] = offset + k
        for j in range(int(k.max()) + 1):
            groups.append(g)
            sel = band == offset + j
            centres.append(folded[sel].mean(0) if sel.any() else np.full(3, np.nan))
    return band, np.array(groups, np.int64), np.array(centres, np.float64)


@dataclass
class BandCover:
    """kind: (B,) UNKNOWN / SKIN / GARMENT; colour: (B, 3) sRGB [0, 1] of that class in the band
    (after unseen bands took their neighbours'); skin_fraction: (B,) of the squarely seen texels,
    NaN where too few; skin_like: (N,) bool, the photo colour resembles the face's skin;
    mistaken: (N,) bool, seen skin-like texels in a clearly garment band (an arm or background
    projected there through fit error): not the garment's colour."""

    kind: torch.Tensor
    colour: torch.Tensor
    skin_fraction: torch.Tensor
    skin_like: torch.Tensor
    mistaken: torch.Tensor


def label_bands(colour: torch.Tensor, seen: torch.Tensor, square: torch.Tensor, band: np.ndarray,
                band_group: np.ndarray, band_centre: np.ndarray, skin: torch.Tensor | None) -> BandCover:
    """colour: (N, 3) photo colour per texel; seen: (N,) bool; square: (N,) bool, seen facing
    the camera squarely enough to judge; band: (N,) from `body_bands` (-1 off them); skin: (3,)
    the face's skin colour, or None when the photo shows no face (then every band is a garment
    of its own median colour and nothing is rejected)."""
    B = len(band_group)
    b = torch.from_numpy(band)
    on = b >= 0
    lab = lab_channels_last(colour)  # (N, 3)
    if skin is not None:
        ref = lab_channels_last(skin)
        d = lab - ref
        skin_like = (d[:, 0] * 0.5) ** 2 + d[:, 1] ** 2 + d[:, 2] ** 2 < SKIN_DISTANCE ** 2
    else:
        skin_like = torch.zeros(len(colour), dtype=torch.bool)
    kind = torch.full((B,), UNKNOWN, dtype=torch.long)
    out_colour = torch.zeros(B, 3)
    fraction = torch.full((B,), float("nan"))
    judged = square & seen & on
    size = torch.bincount(b[on], minlength=B)
    idx = torch.nonzero(judged)[:, 0]
    idx = idx[torch.argsort(b[idx], stable=True)]
    counts = torch.bincount(b[idx], minlength=B).tolist()
    for j, sel in enumerate(torch.split(idx, counts)):
        if len(sel) < max(MIN_BAND_TEXELS, MIN_BAND_SHARE * int(size[j])):
            continue
        like = skin_like[sel]
        fraction[j] = float(like.float().mean())
        is_skin = bool(fraction[j] >= SKIN_BAND)
        kind[j] = SKIN if is_skin else GARMENT
        out_colour[j] = colour[sel[like if is_skin else ~like]].median(0).values
    hands = torch.from_numpy(band_group == BANDED_PARTS.index("hand"))
    if skin is not None and not (kind[hands] != UNKNOWN).any():  # unseen hands: bare, not the sleeve
        kind[hands], out_colour[hands] = SKIN, skin
    _inherit(kind, out_colour, band_group, band_centre)
    clear = torch.zeros(B, dtype=torch.bool)
    clear[fraction.nan_to_num(1.0) < CLEAR_GARMENT] = True
    mistaken = seen & on & skin_like & clear[b.clamp_min(0)]
    return BandCover(kind, out_colour, fraction, skin_like, mistaken)


def _inherit(kind: torch.Tensor, colour: torch.Tensor, band_group: np.ndarray, band_centre: np.ndarray) -> None:
    """Unlabelled bands take the nearest labelled band of their part, else of the part it
    continues (up the chain); in place. Parts with nothing labelled up the chain stay UNKNOWN."""
    known = (kind != UNKNOWN).numpy()
    for g, name in enumerate(BANDED_PARTS):
        todo = np.nonzero((band_group == g) & ~known)[0]
        if len(todo) == 0:
            continue
        source, chain = g, name
        while not np.any((band_group == source) & known):
            chain = CONTINUES.get(chain)
            if chain is None:
                break
            source = BANDED_PARTS.index(chain)
        donors = np.nonzero((band_group == source) & known)[0]
        if len(donors) == 0:
            continue
        d = np.linalg.norm(np.nan_to_num(band_centre[todo, None] - band_centre[None, donors], nan=1e3), axis=-1)
        order = donors[np.argsort(d, 1)]
        kind[todo] = kind[order[:, 0]]
        if source == g:
            colour[todo] = colour[order[:, 0]]
            continue
        # Across parts the nearest bands are the photo's edge (a frame cut, a hem half seen):
        # the median of the nearest few of the same class.
        for t, row in zip(todo, order[:, :INHERIT_BANDS]):
            same = row[(kind[row] == kind[t]).numpy()]
            colour[t] = colour[same].median(0).values


def continue_bands(colour: torch.Tensor, known: torch.Tensor, todo: torch.Tensor, rest_position: np.ndarray,
                   band: np.ndarray, cover: BandCover, neighbours: int = 4, reach: float = 0.25) -> torch.Tensor:
    """Colours (N, 3) for the `todo` texels of labelled bands: the mean of the `neighbours`
    nearest `known` texels (rest body, within `reach` metres) of the same band whose colour is
    of the band's class (skin in a skin band, not skin in a garment band), so a sleeve's side
    continues the sleeve next to it; the band's colour where none is that near. Texels not in
    `todo` (or off the labelled bands) are left zero.

    colour: (N, 3); known, todo: (N,) bool; rest_position: (N, 3); band: (N,)."""
    from scipy.spatial import cKDTree

    out = torch.zeros_like(colour)
    b = torch.from_numpy(band)
    kind = torch.where(b >= 0, cover.kind[b.clamp_min(0)], UNKNOWN)
    todo = todo & (kind != UNKNOWN)
    of_class = cover.skin_like == (kind == SKIN)
    donors = known & (kind != UNKNOWN) & of_class
    if not todo.any():
        return out
    out[todo] = cover.colour[b[todo]]
    if int(donors.sum()) < neighbours:
        return out
    # A 4th coordinate far apart per band keeps every neighbour inside its own band.
    pts = np.concatenate([rest_position, 100.0 * band[:, None]], 1)
    d_idx, t_idx = torch.nonzero(donors)[:, 0].numpy(), torch.nonzero(todo)[:, 0].numpy()
    dist, j = cKDTree(pts[d_idx]).query(pts[t_idx], k=neighbours, distance_upper_bound=reach, workers=-1)
    found = np.isfinite(dist)
    near = found.any(1)
    w = torch.from_numpy(found[near]).float()  # (M, k)
    vals = colour[torch.from_numpy(d_idx[np.where(found[near], j[near], 0)])]  # (M, k, 3)
    out[torch.from_numpy(t_idx[near])] = (vals * w[..., None]).sum(1) / w.sum(1, keepdim=True)
    return out
