"""A complete UV texture for the fitted avatar from one photo.

1. Project: every texel whose surface point the photo camera sees (depth test against the
   photo-view depth map, inside the person mask, not at a grazing angle) takes the photo's
   colour, weighted by how squarely it faces the camera.
2. Label: each band across each body part is skin or a garment (`garment_cover`); skin-coloured
   texels in a clearly clothed band (an arm projected onto the torso's side through fit error)
   are not trusted. The photo's light is fitted (`photo_light`) and divided out: the
   completion runs on albedo.
3. Complete what the photo did not see, in order of trust:
   mirror   the subject's other side (x -> -x on the symmetric rest body), same part;
   part     a garment's back from its front (straight through the body along z, same part),
            the back and top of the head from the hair colour; the sides continue the
            neighbouring texels of their band's class (a sleeve stays a sleeve to its end);
            parts the photo missed take the bands up the chain (legs <- torso), unseen hands
            the face's skin;
   inpaint  push-pull inpainting (an image pyramid) for anything left, which also bleeds
            colours past the UV islands so bilinear sampling never reads background at seams.
4. Light and blend: the fill is lit again by the photo's light at each texel's normal (a back
   turned from the light comes out as dark as that light leaves it), and the photo's colour
   fades into it at grazing angles, so seams are soft.

The texel correspondences depend only on the topology and the texture size, so
`TextureBuilder` computes them once (~2 s at 1024) and each photo then costs ~1.5 s at 1024.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from humanmv.body.anny_model import PART_NAMES, AnnyBody, BodyParams, in_face_region
from humanmv.body.garment_cover import UNKNOWN, BandCover, body_bands, continue_bands, label_bands
from humanmv.body.photo_light import fit_photo_light
from humanmv.cameras import Cameras
from humanmv.paths import cache_dir
from humanmv.render import Renderer
from humanmv.render.uv_space import rasterize_uv, texel_views
from humanmv.views import channels_first, channels_last

PHOTO, MIRROR, PART, INPAINT, OUTSIDE = 0, 1, 2, 3, 255
MIN_FACING = 0.15  # cos of the viewing angle below which a texel is too grazing to trust
FULL_TRUST_FACING = 0.35  # from here on the photo colour is used as it is
SQUARE_FACING = 0.5  # seen this squarely, a texel's colour says whether its band is skin or garment
DEPTH_TOLERANCE = 0.02  # metres
MATCH_DISTANCE = 0.03  # metres: a mirrored point must land this close to the surface
FACING_SIDE = 0.2  # |n_z| on the rest body below which a texel is on a side, neither front nor back
_MAPS_VERSION = 7  # bump when the correspondences change


@dataclass
class TexturedAvatar:
    """texture: (S, S, 3) float32 [0, 1], row 0 = v 1. seen: (S, S) bool, from the photo.
    filled_from: (S, S) uint8 (PHOTO, MIRROR, PART, INPAINT; OUTSIDE off the UV islands).
    face_seen: (S, S) bool, the face's texels (brow to chin, ear to ear) the photo saw squarely
    enough to use as they are: generated views must not repaint them."""

    texture: torch.Tensor
    seen: torch.Tensor
    filled_from: torch.Tensor
    face_seen: torch.Tensor | None = None


def push_pull_fill(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill unknown pixels of `image` (S, S, C) from the known ones (`known` (S, S) bool) by an
    image pyramid: average known values down to 1 pixel, then paste coarse levels under the
    unknown pixels on the way up. Smooth, hole-free, and O(S^2)."""
    img = channels_first(image * known[..., None])[None]
    w = known.float()[None, None]
    levels = []
    while img.shape[-1] > 1:
        levels.append((img, w))
        img = F.avg_pool2d(img, 2, ceil_mode=True)
        w = F.avg_pool2d(w, 2, ceil_mode=True)
        img = img / w.clamp_min(1e-8) * (w > 0)
        w = (w > 0).float()
    for fine, fine_w in reversed(levels):
        up = F.interpolate(img, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        fine_norm = fine / fine_w.clamp_min(1e-8)
        img = torch.where(fine_w > 0, fine_norm, up)
    return channels_last(img[0])


class TextureBuilder:
    """Builds `TexturedAvatar`s for one body topology at one texture size."""

    def __init__(self, body: AnnyBody, renderer: Renderer, size: int = 1024,
                 cache: bool = True) -> None:
        """cache: keep the texel correspondences in $HUMANMV_CACHE (built once, ~2 s at 1024;
        `humanmv setup` builds the default size)."""
        self.body, self.renderer, self.size = body, renderer, size
        path = cache_dir() / f"texture_maps_v{_MAPS_VERSION}_{body.num_vertices}_{size}.npz"
        if cache and path.exists():
            maps = dict(np.load(path))
        else:
            maps = self._build_maps(body, size)
            if cache:
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, **maps)
                os.replace(tmp, path)
        self.texel_index = torch.from_numpy(maps["texel_index"])  # (N,) flat covered texels
        self.part, self.mirror, self.front_back = maps["part"], maps["mirror"], maps["front_back"]
        self.scalp, self.hair_sample = maps["scalp"], maps["hair_sample"]
        self.skin_sample, self.face = maps["skin_sample"], maps["face"]
        self.band, self.band_group, self.band_centre = maps["band"], maps["band_group"], maps["band_centre"]
        self.rest_position = maps["rest_position"]

    @classmethod
    def _build_maps(cls, body: AnnyBody, size: int) -> dict[str, np.ndarray]:
        """Texel correspondences on the symmetric rest body (see the module docstring)."""
        with torch.no_grad():
            rest = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0]
        raster = rasterize_uv(body.mesh(rest), size)
        idx = torch.nonzero(raster.mask.reshape(-1))[:, 0]
        pos = raster.position.reshape(-1, 3)[idx].numpy()
        part = body.face_labels[raster.face_id.reshape(-1)[idx]].numpy()
        eyes_y = float(rest[body.vertex_parts == PART_NAMES.index("eyes"), 1].mean())
        head = PART_NAMES.index("head")
        head_centre_z = float(rest[body.vertex_parts == head, 2].mean())
        band, band_group, band_centre = body_bands(pos, part)
        return {
            "rest_position": pos.astype(np.float32), "band": band, "band_group": band_group,
            "band_centre": band_centre,
            "texel_index": idx.numpy(),
            "part": part,
            "mirror": cls._match(pos, pos * [-1.0, 1.0, 1.0], part, _mirror_parts()),
            "front_back": cls._front_back(pos, raster.normal.reshape(-1, 3)[idx].numpy(), part),
            # Hair covers the top of the head and, behind the ears, down to about ear level.
            "scalp": (part == head) & ((pos[:, 1] > eyes_y + 0.05)
                                       | ((pos[:, 2] < head_centre_z - 0.03) & (pos[:, 1] > eyes_y - 0.05))),
            "hair_sample": (part == head) & (pos[:, 1] > eyes_y + 0.05),
            # Cheeks: the face's skin colour, for the unseen rest of the face, ears and neck.
            "skin_sample": (part == head) & (pos[:, 1] < eyes_y - 0.02) & (pos[:, 1] > eyes_y - 0.08)
                           & (pos[:, 2] > head_centre_z + 0.02),
            "face": in_face_region(torch.from_numpy(pos), torch.from_numpy(part), rest, body.vertex_parts).numpy(),
        }

    @staticmethod
    def _match(pos: np.ndarray, query: np.ndarray, part: np.ndarray, part_map: np.ndarray) -> np.ndarray:
        """For each covered texel, the covered texel nearest to its `query` point with the
        matching part (`part_map[part]`), or -1 when none lies within MATCH_DISTANCE."""
        out = np.full(len(pos), -1, np.int64)
        for p in np.unique(part):
            target = part_map[p]
            src, dst = np.nonzero(part == p)[0], np.nonzero(part == target)[0]
            if len(dst) == 0:
                continue
            dist, j = cKDTree(pos[dst]).query(query[src], k=1, distance_upper_bound=MATCH_DISTANCE)
            ok = np.isfinite(dist)
            out[src[ok]] = dst[j[ok]]
        return out

    @classmethod
    def _front_back(cls, pos: np.ndarray, normal: np.ndarray, part: np.ndarray) -> np.ndarray:
        """Texel on the opposite side of the same part, straight through the body along z (the
        nearest in x and y among texels facing the other way), so a back takes the front a
        camera in front saw there, shoulders and hips included; only for parts a garment covers
        front and back, and not for the sides (|n_z| small), which `garment_cover` continues."""
        garment = [PART_NAMES.index(n) for n in ("torso", "neck", "upper_arm.L", "upper_arm.R",
                                                  "lower_arm.L", "lower_arm.R", "upper_leg.L",
                                                  "upper_leg.R", "lower_leg.L", "lower_leg.R")]
        out = np.full(len(pos), -1, np.int64)
        for p in garment:
            for src_sign in (1.0, -1.0):
                src = np.nonzero((part == p) & (src_sign * normal[:, 2] > FACING_SIDE))[0]
                dst = np.nonzero((part == p) & (-src_sign * normal[:, 2] > FACING_SIDE))[0]
                if len(src) == 0 or len(dst) == 0:
                    continue
                dist, j = cKDTree(pos[dst, :2]).query(pos[src, :2], k=1, distance_upper_bound=MATCH_DISTANCE)
                ok = np.isfinite(dist)
                out[src[ok]] = dst[j[ok]]
        return out

    def build(self, photo: torch.Tensor, person_mask: torch.Tensor, vertices: torch.Tensor,
              camera: Cameras) -> TexturedAvatar:
        """photo: (H, W, 3) float [0, 1]; person_mask: (H, W); vertices: (V, 3) posed, world;
        camera: the photo's 1-view Cameras."""
        mesh = self.body.mesh(vertices)
        raster = rasterize_uv(mesh, self.size)
        idx = self.texel_index
        pos = raster.position.reshape(-1, 3)[idx]
        nrm = raster.normal.reshape(-1, 3)[idx]
        # Texels of triangles that did not rasterise in the posed pass keep no photo colour.
        valid = raster.mask.reshape(-1)[idx]

        views = texel_views(mesh, pos, nrm, camera, self.renderer, DEPTH_TOLERANCE)
        inside = views.sample(person_mask[None, None])[0, :, 0]
        colour = views.sample(channels_first(photo)[None])[0]
        facing = views.facing[0]
        seen = valid & views.visible[0] & (inside > 0.5) & (facing > MIN_FACING)
        weight = torch.where(seen, ((facing - MIN_FACING) / (FULL_TRUST_FACING - MIN_FACING)).clamp(0, 1),
                             torch.zeros_like(facing))

        # Skin-coloured texels in bands the photo shows clearly clothed are an arm or the
        # background projected there through fit error, not the garment: they are not seen.
        square = seen & (facing > SQUARE_FACING)
        cover = label_bands(colour, seen, square, self.band, self.band_group, self.band_centre,
                            self._face_skin(colour, seen))
        seen = seen & ~cover.mistaken
        weight = torch.where(seen, weight, torch.zeros_like(weight))
        # Complete the albedo, then light the fill as the photo's light would (`photo_light`).
        light = fit_photo_light(colour, nrm, self._albedo_groups(cover.skin_like), square & seen)
        shading = light.shading(F.normalize(nrm, dim=-1))
        albedo = (colour / shading[:, None]).clamp(0, 1)
        cover = label_bands(albedo, seen, square & seen, self.band, self.band_group, self.band_centre,
                            self._face_skin(albedo, seen))

        fill, source = self._complete(albedo, seen, weight, cover)
        fill = self._soften(fill) * shading[:, None]
        blended = weight[:, None] * colour + (1 - weight[:, None]) * fill
        texel = torch.where(seen[:, None], blended, fill)

        S = self.size
        texture = torch.zeros(S * S, 3)
        texture[idx] = texel
        known = torch.zeros(S * S, dtype=torch.bool)
        known[idx] = True
        texture = push_pull_fill(texture.reshape(S, S, 3), known.reshape(S, S)).clamp(0, 1)
        filled = torch.full((S * S,), OUTSIDE, dtype=torch.uint8)
        filled[idx] = torch.where(seen, torch.full_like(source, PHOTO), source)
        seen_map = torch.zeros(S * S, dtype=torch.bool)
        seen_map[idx] = seen
        face_seen = torch.zeros(S * S, dtype=torch.bool)
        face_seen[idx] = torch.from_numpy(self.face) & (weight >= 1)
        return TexturedAvatar(texture, seen_map.reshape(S, S), filled.reshape(S, S), face_seen.reshape(S, S))

    def _soften(self, values: torch.Tensor, sigma_fraction: float = 0.012,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """Gaussian-blur per-texel colours (N, 3) within the UV islands, normalised by coverage
        (or by `weight` (N,), so only texels with a value count), so no background bleeds in."""
        S = self.size
        img = torch.zeros(S * S, 4)
        img[self.texel_index, :3] = values
        img[self.texel_index, 3] = 1.0 if weight is None else weight.float()
        img[self.texel_index, :3] *= img[self.texel_index, 3:]
        img = channels_first(img.reshape(S, S, 4))[:, None]  # (4, 1, S, S): each channel blurred alone
        # Wide blurs run on a pooled copy (the result is smooth anyway): ~4 texels per sigma.
        factor = max(1, int(sigma_fraction * S) // 4)
        if factor > 1:
            img = F.avg_pool2d(img, factor, ceil_mode=True)
        sigma = max(1.0, sigma_fraction * S / factor)
        radius = int(3 * sigma)
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        kernel = kernel / kernel.sum()
        img = F.conv2d(img, kernel.view(1, 1, 1, -1), padding=(0, radius))
        img = F.conv2d(img, kernel.view(1, 1, -1, 1), padding=(radius, 0))
        if factor > 1:
            img = F.interpolate(img, size=(S, S), mode="bilinear", align_corners=False)
        img = channels_last(img[:, 0]).reshape(S * S, 4)[self.texel_index]
        return img[:, :3] / img[:, 3:].clamp_min(1e-6)

    def _albedo_groups(self, skin_like: torch.Tensor) -> torch.Tensor:
        """(N,) texels expected to share an albedo: skin or not, within one band (the head as
        one more band); -1 for the eyes."""
        band = torch.from_numpy(self.band).clone()
        band[torch.from_numpy(self.part == PART_NAMES.index("head"))] = len(self.band_group)
        return torch.where(band >= 0, 2 * band + skin_like.long(), -1)

    def _face_skin(self, colour: torch.Tensor, seen: torch.Tensor) -> torch.Tensor | None:
        """(3,) the median colour of the cheeks the photo saw, None when it saw too few."""
        skin = torch.from_numpy(self.skin_sample) & seen
        return colour[skin].median(0).values if int(skin.sum()) >= 20 else None

    def _complete(self, colour: torch.Tensor, seen: torch.Tensor, weight: torch.Tensor, cover: BandCover):
        """Fill colours (N, 3) for every covered texel and where each came from (N,) uint8;
        a texel's fill ignores its own photo colour (it is what the photo blends into)."""
        N = len(colour)
        fill = torch.zeros(N, 3)
        have = torch.zeros(N, dtype=torch.bool)
        source = torch.full((N,), INPAINT, dtype=torch.uint8)

        def take(partner: np.ndarray, donors: torch.Tensor, values: torch.Tensor, code: int) -> None:
            """Texels without a fill take their partner's value where the partner is a donor."""
            p = torch.from_numpy(partner)
            cand = torch.nonzero((p >= 0) & ~have)[:, 0]
            sel = cand[donors[p[cand]]]
            fill[sel] = values[p[sel]]
            have[sel] = True
            source[sel] = code

        take(self.mirror, seen & (weight > 0.2), colour, MIRROR)
        # A garment's back takes its front's colours low-passed (sigma S/32), so badges, zips
        # and prints carry over as colour, not as a sharp mirror copy.
        donors = seen | have
        front = self._soften(torch.where(seen[:, None], colour, fill), 1 / 32, donors)
        take(self.front_back, donors, front, PART)
        # Hair colour for the scalp; each part's median for what is still empty.
        hair = torch.from_numpy(self.hair_sample) & seen
        if int(hair.sum()) < 20:  # the top of the head unseen: any seen scalp (e.g. a back view)
            hair = torch.from_numpy(self.scalp) & seen
        if int(hair.sum()) >= 20:
            scalp = torch.from_numpy(self.scalp) & ~have
            fill[scalp] = colour[hair].median(0).values
            have |= scalp
            source[scalp] = PART
        # The rest of a band (the sides, mostly) takes what covers that band: its garment's or
        # its skin's colour (`garment_cover`).
        band = torch.from_numpy(self.band)
        labelled = (band >= 0) & (cover.kind[band.clamp_min(0)] != UNKNOWN) & ~have
        fill[labelled] = continue_bands(colour, seen & (weight > 0.5),
                                        labelled, self.rest_position, self.band, cover)[labelled]
        have |= labelled
        source[labelled] = PART
        # Each part (both sides pooled, so the two legs match) takes the median colour of what
        # is known of it; a part barely seen takes its neighbour's colour up the chain.
        known = torch.where(seen[:, None], colour, fill)
        part_colour: dict[str, torch.Tensor] = {}
        face_skin = self._face_skin(colour, seen)
        if face_skin is not None:  # the head (ears, unseen cheeks) and neck are skin, not hair
            part_colour["head"] = part_colour["neck"] = face_skin
        for name in _FILL_ORDER:
            if name in part_colour:
                members = torch.from_numpy(np.isin(self.part, [PART_NAMES.index(name)]))
                own = members & ~have
                fill[own] = part_colour[name]
                have |= own
                source[own] = PART
                continue
            ids = [PART_NAMES.index(n) for n in (name, name + ".L", name + ".R") if n in PART_NAMES]
            members = torch.from_numpy(np.isin(self.part, ids))
            donors = members & (seen | have)
            if int(donors.sum()) >= max(10, int(0.05 * int(members.sum()))):
                part_colour[name] = known[donors].median(0).values
            elif _FILL_FALLBACK.get(name) in part_colour:
                part_colour[name] = part_colour[_FILL_FALLBACK[name]]
            elif seen.any():
                part_colour[name] = colour[seen].median(0).values
            else:
                part_colour[name] = torch.full((3,), 0.5)
            own = members & ~have
            fill[own] = part_colour[name]
            have |= own
            source[own] = PART
        return fill, source


# Parts in the order their fill colours are decided, and whose colour a barely seen part borrows.
_FILL_ORDER = ("torso", "head", "neck", "upper_arm", "lower_arm", "hand", "upper_leg",
               "lower_leg", "foot", "eyes")
_FILL_FALLBACK = {"neck": "head", "upper_arm": "torso", "lower_arm": "upper_arm", "hand": "lower_arm",
                  "upper_leg": "torso", "lower_leg": "upper_leg", "foot": "lower_leg", "eyes": "head"}


def _mirror_parts() -> np.ndarray:
    """part id -> the part id of its left/right mirror (itself for central parts)."""
    out = np.arange(len(PART_NAMES))
    for i, name in enumerate(PART_NAMES):
        for a, b in ((".L", ".R"), (".R", ".L")):
            if name.endswith(a):
                out[i] = PART_NAMES.index(name[:-2] + b)
    return out
