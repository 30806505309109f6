"""Complete the body texture from one photo: the "project" stage, second half.

The photo sees about half of the body. Every texel of the S x S texture gets a colour from the
first of these layers that has one, and layers are blended by their weights, so the seams between
them are soft:

0. photo    `project_photo`'s colour, alpha = weight / `photo_full` (clamped to 1): texels seen
            head-on are the photo's, texels seen at grazing angles fade into the layers below.
1. mirror   the photo colour of the left/right mirrored texel (the rest pose is symmetric about
            x = 0: mirrored point (-x, y, z) -> nearest surface texel).
2. part     per part: torso, neck, arms and legs (garments): the other side's colour through a
            front <-> back flip (the texel of the same part nearest in (x, y) on the other side,
            i.e. z mirrored locally), and the part's median colour where a part is barely seen;
            head: hair colour (median of seen texels above the hairline) on the top and back,
            skin colour (median of seen cheek/nose texels) on the face; hands, feet, eyes: their
            median seen colour, else that of the nearest seen part.
3. inpaint  whatever is still missing: push-pull (image pyramid) inpainting inside each UV
            island; then colours are dilated a few texels past the island borders so bilinear
            sampling never reads the background along seams.

All correspondences are built once per (topology, size) from the rest pose and cached (the
mirror correspondence is a k-d tree query over all texels, ~1-2 s at 1024); a photo then costs
gathers and one push-pull (see `TextureBuilder`).

Public API:
    builder = TextureBuilder(body, renderer, size=1024)        # builds / reuses the caches
    avatar = builder.build(photo, person_mask, vertices, camera)  # -> TexturedAvatar
    body.mesh(vertices, texture=avatar.texture)                # render it
or, with a `ProjectedTexture` from `project_photo`:
    texture, filled_from = complete_texture(projected, body, uv_raster_rest)
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from humanmv.body.anny_model import PART_NAMES, BodyParams
from humanmv.body.texture import ProjectedTexture, SurfaceTexels, project_photo
from humanmv.cameras import Cameras
from humanmv.render.uv_raster import UVRaster, rasterize_uv

# filled_from codes
FROM_PHOTO, FROM_MIRROR, FROM_PART, FROM_INPAINT, FROM_NONE = 0, 1, 2, 3, 255

# Parts whose back is filled from their front and vice versa (garments).
FLIP_PARTS = ("torso", "neck", "upper_arm.L", "lower_arm.L", "upper_arm.R", "lower_arm.R",
              "upper_leg.L", "lower_leg.L", "upper_leg.R", "lower_leg.R")
# Parts filled with one (median) colour where neither the photo nor the mirror saw them.
MEDIAN_PARTS = ("hand.L", "hand.R", "foot.L", "foot.R", "eyes")
# Where a part has no seen colour of its own, the parts to borrow one from, nearest first.
FALLBACK = {
    "torso": ("upper_arm.L", "upper_arm.R", "neck"),
    "neck": ("skin",),
    "upper_arm.L": ("upper_arm.R", "torso"), "upper_arm.R": ("upper_arm.L", "torso"),
    "lower_arm.L": ("lower_arm.R", "upper_arm.L", "upper_arm.R", "torso"),
    "lower_arm.R": ("lower_arm.L", "upper_arm.R", "upper_arm.L", "torso"),
    "hand.L": ("hand.R", "skin"), "hand.R": ("hand.L", "skin"),
    "upper_leg.L": ("upper_leg.R", "torso"), "upper_leg.R": ("upper_leg.L", "torso"),
    "lower_leg.L": ("lower_leg.R", "upper_leg.L", "upper_leg.R", "torso"),
    "lower_leg.R": ("lower_leg.L", "upper_leg.R", "upper_leg.L", "torso"),
    "foot.L": ("foot.R", "lower_leg.L", "lower_leg.R", "torso"),
    "foot.R": ("foot.L", "lower_leg.R", "lower_leg.L", "torso"),
    "eyes": (),
    "head": ("skin",),
}
DEFAULT_COLOURS = {"skin": (0.78, 0.6, 0.5), "hair": (0.18, 0.13, 0.1), "eyes": (0.85, 0.85, 0.85),
                   "any": (0.5, 0.5, 0.5)}

# Hairline of the rest head as a height above the eyes (metres) by depth relative to the eyes:
# high on the forehead, down to the top of the ears at the sides, to the nape at the back.
_HAIRLINE_DZ = (-0.25, -0.13, -0.10, -0.075, -0.04, 0.0, 0.1)
_HAIRLINE_DY = (-0.10, -0.085, -0.01, 0.025, 0.05, 0.06, 0.06)


@dataclass
class FillMaps:
    """Correspondences of one (topology, size), built once from the rest pose.

    Arrays are over the N covered texels of `texels` (compact indices into them).

    Attributes:
        texels: the surface texels (pose-independent face / barycentrics per texel).
        raster: the rest-pose UV raster the maps were built from.
        mirror: (N,) texel at the left/right mirrored rest point.
        flip: (N,) texel on the other side (front <-> back) of the same part, -1 outside FLIP_PARTS.
        hair: (N,) float32 in [0, 1], how much a head texel is hair (by rest position).
        hair_source, skin_source: (N,) bool, head texels whose seen colours give the hair / skin
            colour.
        island: (N,) int32 UV island (connected component) of each texel, 1-based;
        island_boxes: per island, its (rows, cols) slices of the S x S image.
        dilate_dst: (M,) flat indices of background texels within `dilate` texels of an island;
        dilate_src: (M,) the compact index of the nearest covered texel of each.
    """

    texels: SurfaceTexels
    raster: UVRaster
    mirror: np.ndarray
    flip: np.ndarray
    hair: np.ndarray
    hair_source: np.ndarray
    skin_source: np.ndarray
    island: np.ndarray
    island_boxes: list
    dilate_dst: np.ndarray
    dilate_src: np.ndarray
    build_seconds: float = 0.0

    @property
    def size(self) -> int:
        return self.texels.size


@dataclass
class TexturedAvatar:
    """A complete texture of the fitted body.

    Attributes:
        texture: (S, S, 3) float32 in [0, 1], row 0 = v 1 (the renderer's convention); every
            texel of the surface and a margin of a few texels around each UV island is filled.
        seen: (S, S) bool, texels the photo saw (weight > 0).
        weight: (S, S) float32 in [0, 1], the photo's weight (`project_photo`).
        filled_from: (S, S) uint8 where each texel's colour mostly came from: 0 photo,
            1 mirror, 2 part fill, 3 inpainting, 255 nothing (off the surface and its margin;
            margin texels carry the code of the texel they copy).
        timings: seconds per step.
    """

    texture: torch.Tensor
    seen: torch.Tensor
    weight: torch.Tensor
    filled_from: torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)


# ---- building the maps ----------------------------------------------------------------------
_cache: dict[tuple[str, int], FillMaps] = {}
_cache_lock = threading.Lock()


def topology_key(body) -> str:
    """A fingerprint of the mesh topology and UV layout (faces, uvs, uv_faces, part labels)."""
    h = hashlib.blake2b(digest_size=16)
    for t in (body.faces, body.uv_faces, body.uvs, body.face_labels):
        h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
    return h.hexdigest()


def rest_uv_raster(body, size: int) -> UVRaster:
    """The UV raster of `body` in its rest pose (BodyParams.neutral: symmetric about x = 0)."""
    params = BodyParams.neutral(n_expressions=len(body.expression_names))
    with torch.no_grad():
        rest = body(params).vertices[0]
    return rasterize_uv(body.mesh(rest), size)


def fill_maps(body, uv_raster_rest: UVRaster | None = None, size: int | None = None) -> FillMaps:
    """The cached `FillMaps` of `body`'s topology at `size` (or the size of `uv_raster_rest`),
    built on first use from `uv_raster_rest` (rasterised from the rest pose when None)."""
    if size is None:
        if uv_raster_rest is None:
            raise ValueError("fill_maps needs a size or a rest-pose UV raster")
        size = uv_raster_rest.size
    key = (topology_key(body), int(size))
    with _cache_lock:
        if key not in _cache:
            raster = uv_raster_rest if uv_raster_rest is not None else rest_uv_raster(body, size)
            if raster.size != size:
                raise ValueError(f"uv_raster_rest has size {raster.size}, not {size}")
            _cache[key] = build_fill_maps(raster, body.face_labels)
        return _cache[key]


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def build_fill_maps(raster: UVRaster, face_labels: torch.Tensor, dilate: int | None = None) -> FillMaps:
    """Build the correspondences from a rest-pose (left/right symmetric) UV raster."""
    t0 = time.perf_counter()
    S = raster.size
    texels = SurfaceTexels.from_raster(raster, face_labels)
    pos = raster.position.reshape(-1, 3).numpy()[texels.index].astype(np.float64)
    nrm = raster.normal.reshape(-1, 3).numpy()[texels.index]
    part = texels.part
    N = len(texels)

    # (a) left/right mirror: nearest texel to (-x, y, z).
    _, mirror = cKDTree(pos).query(pos * np.array([-1.0, 1.0, 1.0]), workers=-1)

    # (b) front <-> back within a part: nearest texel on the other side in (x, y).
    flip = np.full(N, -1, np.int64)
    for name in FLIP_PARTS:
        sel = np.flatnonzero(part == PART_NAMES.index(name))
        front, back = sel[nrm[sel, 2] > 0], sel[nrm[sel, 2] <= 0]
        if len(front) == 0 or len(back) == 0:
            continue
        _, i = cKDTree(pos[front, :2]).query(pos[back, :2], workers=-1)
        flip[back] = front[i]
        _, i = cKDTree(pos[back, :2]).query(pos[front, :2], workers=-1)
        flip[front] = back[i]

    # Head: hairline relative to the eyes of the rest pose.
    head = part == PART_NAMES.index("head")
    eyes = part == PART_NAMES.index("eyes")
    hair = np.zeros(N, np.float32)
    hair_source = np.zeros(N, bool)
    skin_source = np.zeros(N, bool)
    if head.any() and eyes.any():
        y_eye, z_eye = pos[eyes, 1].mean(), pos[eyes, 2].mean()
        dy, dz = pos[:, 1] - y_eye, pos[:, 2] - z_eye
        above = dy - np.interp(dz, _HAIRLINE_DZ, _HAIRLINE_DY)
        hair = np.where(head, _ramp(above, -0.005, 0.015), 0.0).astype(np.float32)
        hair_source = head & (above > 0.025)
        skin_source = head & (dy > -0.07) & (dy < -0.01) & (dz > -0.04) & (nrm[:, 2] > 0.3)

    # Islands and the dilation margin.
    mask = raster.mask.numpy()
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    island = labels.reshape(-1)[texels.index].astype(np.int32)
    boxes = ndimage.find_objects(labels)
    dilate = max(2, S // 128) if dilate is None else dilate
    dist, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    near = np.flatnonzero((~mask & (dist <= dilate)).reshape(-1))
    src_flat = iy.reshape(-1)[near] * S + ix.reshape(-1)[near]
    dilate_src = np.searchsorted(texels.index, src_flat)
    return FillMaps(texels, raster, mirror.astype(np.int64), flip, hair, hair_source, skin_source,
                    island, list(boxes), near.astype(np.int64), dilate_src.astype(np.int64),
                    build_seconds=time.perf_counter() - t0)


# ---- completing one texture ------------------------------------------------------------------
def push_pull(premult: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Fill an image from its weighted samples: (h, w, 3) premultiplied colours and (h, w)
    alphas in [0, 1] -> (h, w, 3) colours, alpha-blended over a pyramid of coarser averages
    (empty texels take the smooth average of the nearest samples). Needs some alpha > 0."""
    levels = [(premult.astype(np.float32), alpha.astype(np.float32))]
    while max(levels[-1][1].shape) > 1:
        p, a = levels[-1]
        h, w = a.shape
        ph, pw = h + h % 2, w + w % 2
        if (ph, pw) != (h, w):
            p = np.pad(p, ((0, ph - h), (0, pw - w), (0, 0)))
            a = np.pad(a, ((0, ph - h), (0, pw - w)))
        p2 = p.reshape(ph // 2, 2, pw // 2, 2, 3).sum((1, 3))
        a2 = a.reshape(ph // 2, 2, pw // 2, 2).sum((1, 3))
        scale = 1.0 / np.maximum(a2, 1.0)  # keep alpha <= 1, premultiplied colours consistent
        levels.append((p2 * scale[..., None], a2 * scale))
    p, a = levels[-1]
    colour = p / np.maximum(a, 1e-12)[..., None]
    for p, a in reversed(levels[:-1]):
        h, w = a.shape
        ch, cw = colour.shape[:2]
        up = cv2.resize(colour, (2 * cw, 2 * ch), interpolation=cv2.INTER_LINEAR)[:h, :w]
        colour = p + (1.0 - a)[..., None] * up
    return colour


def _median(colours: np.ndarray, sel: np.ndarray, min_count: int) -> np.ndarray | None:
    if int(sel.sum()) < min_count:
        return None
    return np.median(colours[sel], axis=0).astype(np.float32)


def complete_texture(projected: ProjectedTexture, body, uv_raster_rest: UVRaster | None = None, *,
                     maps: FillMaps | None = None, photo_full: float = 0.25,
                     low_coverage: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Complete a projected photo texture (layers in the module docstring).

    Args:
        projected: `project_photo`'s output, S x S.
        body: the `AnnyBody` (its topology keys the cached maps).
        uv_raster_rest: rest-pose UV raster of `body` at S (only used to build the maps the first
            time; None rasterises the rest pose).
        maps: the `FillMaps` to use (default: the cached ones for this topology and S).
        photo_full: photo weight at and above which the photo's colour is used alone
            (0.25 = cos^2 of 60 degrees between the normal and the viewing ray).
        low_coverage: a garment part (FLIP_PARTS) with less than this fraction of its texels
            filled by photo, mirror or flip is completed with its median colour, not inpainted.
    Returns:
        texture (S, S, 3) float32 in [0, 1] and filled_from (S, S) uint8 (codes in
        `TexturedAvatar`).
    """
    texture, filled_from, _ = _complete(projected, body, uv_raster_rest, maps, photo_full, low_coverage)
    return texture, filled_from


def _complete(projected, body, uv_raster_rest, maps, photo_full, low_coverage):
    timings: dict[str, float] = {}
    t = time.perf_counter()
    S = projected.texture.shape[0]
    if maps is None:
        maps = fill_maps(body, uv_raster_rest, S)
    if maps.size != S:
        raise ValueError(f"fill maps are for size {maps.size}, the texture is {S}")
    tx = maps.texels
    N = len(tx)
    part = tx.part
    c0 = projected.texture.reshape(-1, 3).numpy()[tx.index].astype(np.float32)
    w0 = projected.weight.reshape(-1).numpy()[tx.index].astype(np.float32)
    a0 = np.clip(w0 / photo_full, 0.0, 1.0)

    # 1. mirror
    a1 = a0[maps.mirror]
    p01 = a0[:, None] * c0 + ((1 - a0) * a1)[:, None] * c0[maps.mirror]
    A01 = a0 + (1 - a0) * a1
    col01 = p01 / np.maximum(A01, 1e-12)[:, None]

    # 2. part fills
    min_count = max(8, N // 20000)
    confident = a0 > 0.5
    medians: dict[str, np.ndarray | None] = {
        name: _median(c0, confident & (part == i), min_count) for i, name in enumerate(PART_NAMES)}
    medians["skin"] = _median(c0, confident & maps.skin_source, min_count)
    hair_colour = _median(c0, confident & maps.hair_source, min_count)
    if medians["skin"] is None:  # no face seen: bare skin from the neck or the hands
        for name in ("neck", "hand.L", "hand.R"):
            if medians[name] is not None:
                medians["skin"] = medians[name]
                break
    seen_any = c0[confident]
    global_colour = (np.median(seen_any, axis=0).astype(np.float32) if len(seen_any)
                     else np.array(DEFAULT_COLOURS["any"], np.float32))

    def colour_of(name: str, seen: tuple[str, ...] = ()) -> np.ndarray:
        if medians.get(name) is not None:
            return medians[name]
        for other in FALLBACK.get(name, ()):
            if other not in seen:
                c = colour_of(other, seen + (name,))
                if c is not None:
                    return c
        if name in DEFAULT_COLOURS and name != "any":
            return np.array(DEFAULT_COLOURS[name], np.float32)
        return None if seen else global_colour

    c2 = np.zeros((N, 3), np.float32)
    a2 = np.zeros(N, np.float32)
    for name in FLIP_PARTS:
        sel = np.flatnonzero(part == PART_NAMES.index(name))
        if len(sel) == 0:
            continue
        f = maps.flip[sel]
        c2[sel], a2[sel] = col01[f], A01[f]
        covered = A01[sel] + (1 - A01[sel]) * a2[sel]
        if np.mean(covered > 0.5) < low_coverage:  # barely seen: its median, not inpainting
            med = colour_of(name)
            c2[sel] = a2[sel, None] * c2[sel] + (1 - a2[sel, None]) * med
            a2[sel] = 1.0
    for name in MEDIAN_PARTS:
        sel = part == PART_NAMES.index(name)
        c2[sel], a2[sel] = colour_of(name), 1.0
    head = part == PART_NAMES.index("head")
    if head.any():
        skin = colour_of("skin")
        hair_c = hair_colour if hair_colour is not None else np.array(DEFAULT_COLOURS["hair"], np.float32)
        h = maps.hair[head, None]
        c2[head] = h * hair_c + (1 - h) * skin
        a2[head] = 1.0
    p012 = p01 + ((1 - A01) * a2)[:, None] * c2
    A012 = A01 + (1 - A01) * a2
    timings["layers"] = time.perf_counter() - t

    # 3. push-pull inpainting inside each island that still has holes
    t = time.perf_counter()
    colour = p012.copy()
    holes = A012 < 0.999
    if holes.any():
        rows, cols = np.divmod(tx.index, S)
        for k in np.unique(maps.island[holes]):
            members = np.flatnonzero(maps.island == k)
            missing = members[holes[members]]
            if A012[members].sum() < 1e-3:  # nothing at all on this island
                colour[missing] += (1 - A012[missing, None]) * global_colour
                continue
            ys, xs = maps.island_boxes[k - 1]
            r, c = rows[members] - ys.start, cols[members] - xs.start
            h, w = ys.stop - ys.start, xs.stop - xs.start
            P = np.zeros((h, w, 3), np.float32)
            A = np.zeros((h, w), np.float32)
            P[r, c], A[r, c] = p012[members], A012[members]
            filled = push_pull(P, A)
            rm, cm = rows[missing] - ys.start, cols[missing] - xs.start
            colour[missing] = p012[missing] + (1 - A012[missing, None]) * filled[rm, cm]
    timings["inpaint"] = time.perf_counter() - t

    # Where each colour came from: the layer with the largest share.
    t = time.perf_counter()
    shares = np.stack([a0, (1 - a0) * a1, (1 - A01) * a2, 1 - A012], 1)
    code = np.argmax(shares, 1).astype(np.uint8)
    colour = np.clip(colour, 0.0, 1.0)

    # Scatter, then dilate past the island borders.
    tex = np.zeros((S * S, 3), np.float32)
    src = np.full(S * S, FROM_NONE, np.uint8)
    tex[tx.index], src[tx.index] = colour, code
    tex[maps.dilate_dst] = colour[maps.dilate_src]
    src[maps.dilate_dst] = code[maps.dilate_src]
    timings["assemble"] = time.perf_counter() - t
    return (torch.from_numpy(tex.reshape(S, S, 3)), torch.from_numpy(src.reshape(S, S)), timings)


class TextureBuilder:
    """Photo -> complete body texture, with the per-(topology, size) caches held.

    Args:
        body: the `AnnyBody`.
        renderer: the `Renderer` (depth map from the photo camera).
        size: S, texels per side of the texture.
    Building the first `TextureBuilder` of a topology and size rasterises the rest pose and
    builds the fill maps (~1-3 s at 1024); later ones reuse them.
    """

    def __init__(self, body, renderer, size: int = 1024, photo_full: float = 0.25,
                 low_coverage: float = 0.3) -> None:
        self.body = body
        self.renderer = renderer
        self.size = int(size)
        self.photo_full = photo_full
        self.low_coverage = low_coverage
        self.maps = fill_maps(body, size=self.size)

    def project(self, photo, person_mask, vertices: torch.Tensor, camera: Cameras,
                **kwargs) -> ProjectedTexture:
        """`project_photo` with the cached texels (keyword arguments go to it)."""
        return project_photo(photo, person_mask, vertices, self.body, camera, self.renderer,
                             self.size, texels=self.maps.texels, **kwargs)

    def build(self, photo, person_mask, vertices: torch.Tensor, camera: Cameras) -> TexturedAvatar:
        """Complete texture of the fitted body.

        Args:
            photo: (H, W, 3) float in [0, 1] or uint8, row 0 at the top.
            person_mask: (H, W) in [0, 1].
            vertices: (V, 3) fitted body, world frame.
            camera: the photo's camera (1 view).
        Returns:
            TexturedAvatar (S x S).
        """
        t = time.perf_counter()
        projected = self.project(photo, person_mask, vertices, camera)
        t_project = time.perf_counter() - t
        texture, filled_from, timings = _complete(projected, self.body, None, self.maps,
                                                  self.photo_full, self.low_coverage)
        timings = {"project": t_project, **timings, "total": time.perf_counter() - t}
        return TexturedAvatar(texture, projected.seen, projected.weight, filled_from, timings)
