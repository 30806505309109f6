"""Procedural appearance for synthetic subjects: skin, clothing, hair and shoes painted into
Anny's UV texture through its body parts, plus lighting applied to rendered views.

Everything is deterministic from a numpy Generator. Garments are texture-only (tops, trousers,
shorts, skirts/dresses, shoes; solid, striped, checked or printed); hair is a texture on the
scalp with the hairline set by the style. The `UVAtlas` (per-texel part and rest-pose
position) is built once per texture size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from humanmv.body.anny_model import PART_NAMES, AnnyBody, BodyParams
from humanmv.data.face_features import face_feature_masks
from humanmv.render.uv_space import rasterize_uv

# Skin tones from very light to very dark (sRGB), jittered per subject.
SKIN_TONES = np.array([
    [0.96, 0.84, 0.76], [0.92, 0.76, 0.65], [0.86, 0.67, 0.53], [0.78, 0.57, 0.42],
    [0.66, 0.46, 0.32], [0.54, 0.36, 0.24], [0.42, 0.27, 0.18], [0.30, 0.19, 0.13],
])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.04], [0.18, 0.11, 0.07], [0.35, 0.22, 0.12], [0.62, 0.47, 0.28],
    [0.80, 0.68, 0.45], [0.55, 0.22, 0.10], [0.62, 0.62, 0.62], [0.90, 0.90, 0.88],
])
TOPS = ("t-shirt", "long-sleeve", "tank-top", "none")
BOTTOMS = ("trousers", "shorts", "skirt", "dress")
PATTERNS = ("solid", "stripes", "checks", "print")
HAIR_STYLES = ("bald", "buzz", "short", "medium", "long")
# Hairline per style, metres above the eyes: (at the front, at the back of the head).
HAIRLINES = {"buzz": (0.07, 0.0), "short": (0.05, -0.03), "medium": (0.045, -0.07), "long": (0.04, -0.2)}
EYE_COLOURS = np.array([
    [0.20, 0.11, 0.05], [0.33, 0.20, 0.09], [0.42, 0.33, 0.16], [0.30, 0.40, 0.22],
    [0.28, 0.42, 0.58], [0.45, 0.50, 0.52],
])


@dataclass
class Appearance:
    """What a synthetic subject wears and looks like (JSON-ready for meta.json)."""

    skin_tone: int
    skin: list[float]
    hair_style: str
    hair: list[float]
    top: str
    top_colour: list[float]
    top_pattern: str
    bottom: str
    bottom_colour: list[float]
    bottom_pattern: str
    shoes: list[float]
    light_direction: list[float]
    light_colour: list[float]
    ambient: float
    eye_colour: list[float] = None
    lip_tint: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    tone = int(rng.integers(len(SKIN_TONES)))
    colour = lambda: np.clip(rng.uniform(0.05, 0.95, 3), 0, 1).round(3).tolist()  # noqa: E731
    # Key light from the front half, above the horizon; warm to cool white.
    az, el = rng.uniform(-120, 120), rng.uniform(15, 70)
    a, e = np.radians(az), np.radians(el)
    temperature = rng.uniform(-1, 1)
    light = [1.0 + 0.12 * temperature, 1.0, 1.0 - 0.12 * temperature]
    look = Appearance(
        skin_tone=tone,
        skin=np.clip(SKIN_TONES[tone] + rng.normal(0, 0.02, 3), 0, 1).round(3).tolist(),
        hair_style=HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))].tolist(),
        top=TOPS[int(rng.integers(len(TOPS) - 1))] if rng.uniform() > 0.05 else "none",
        top_colour=colour(), top_pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        bottom=BOTTOMS[int(rng.integers(len(BOTTOMS)))],
        bottom_colour=colour(), bottom_pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        shoes=colour(),
        light_direction=[float(np.sin(a) * np.cos(e)), float(np.sin(e)), float(np.cos(a) * np.cos(e))],
        light_colour=[round(v, 3) for v in light],
        ambient=float(rng.uniform(0.35, 0.6)),
    )
    # Drawn last, so the fields above stay what they were before faces were painted.
    look.eye_colour = EYE_COLOURS[int(rng.integers(len(EYE_COLOURS)))].tolist()
    look.lip_tint = round(float(rng.uniform(0, 1)), 3)
    return look


class UVAtlas:
    """Per-texel part label and rest-pose position of Anny's UV layout at one size."""

    def __init__(self, body: AnnyBody, size: int = 512) -> None:
        with torch.no_grad():
            rest = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0]
        raster = rasterize_uv(body.mesh(rest), size)
        self.size = size
        self._parts: dict[tuple[str, ...], torch.Tensor] = {}
        self.mask = raster.mask
        self.part = torch.where(raster.mask, body.face_labels[raster.face_id.clamp_min(0)], -1)
        self.position = raster.position
        eyes = body.vertex_parts == PART_NAMES.index("eyes")
        self.eyes_y = float(rest[eyes, 1].mean())
        head = body.vertex_parts == PART_NAMES.index("head")
        self.head_centre_z = float(rest[head, 2].mean())
        self.floor_y = float(rest[:, 1].min())
        self.height = float(rest[:, 1].max() - rest[:, 1].min())
        self.face = face_feature_masks(rest, raster.position, self.part, PART_NAMES.index("head"),
                                       PART_NAMES.index("eyes"))

    def parts(self, *names: str) -> torch.Tensor:
        """(S, S) bool: texels of any of the named parts (cached: every subject asks the same)."""
        if names not in self._parts:
            self._parts[names] = torch.isin(self.part, torch.tensor([PART_NAMES.index(n) for n in names]))
        return self._parts[names]


def _pattern(kind: str, colour: torch.Tensor, pos: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """(S, S, 3) garment colour with a pattern laid out in rest-pose world coordinates (metres),
    so stripes run round the body continuously across UV seams."""
    second = torch.tensor(np.clip(rng.uniform(0.05, 0.95, 3), 0, 1), dtype=torch.float32)
    y, x, z = pos[..., 1], pos[..., 0], pos[..., 2]
    if kind == "stripes":
        period = rng.uniform(0.03, 0.1)
        t = (torch.sin(2 * np.pi * y / period) > 0).float()
    elif kind == "checks":
        period = rng.uniform(0.04, 0.12)
        t = ((torch.floor(x / period) + torch.floor(y / period) + torch.floor(z / period)) % 2).float()
    elif kind == "print":
        f = rng.uniform(15, 40, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        t = (torch.sin(f[0] * x + ph[0]) * torch.sin(f[1] * y + ph[1]) * torch.sin(f[2] * z + ph[2]) > 0.25).float()
    else:
        t = torch.zeros_like(y)
    return colour * (1 - t[..., None]) + second * t[..., None]


def _hip_y(atlas: UVAtlas) -> float:
    """The rest body's hip height (m), where tops end and bottoms begin."""
    return atlas.floor_y + 0.50 * atlas.height


def garment_texels(atlas: UVAtlas, look: Appearance) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(top, bottom): (S, S) bool texels of Anny's layout that `look`'s top and its trousers,
    shorts, skirt or dress cover (top None without one; a dress's bottom includes its bodice)."""
    y = atlas.position[..., 1]
    knee_y = atlas.floor_y + 0.28 * atlas.height
    hip_y = _hip_y(atlas)
    sleeves = {"t-shirt": ("upper_arm.L", "upper_arm.R"), "long-sleeve": ("upper_arm.L", "upper_arm.R",
               "lower_arm.L", "lower_arm.R"), "tank-top": ()}.get(look.top)
    top = None if sleeves is None else atlas.parts("torso", *sleeves) & (y > hip_y - 0.08)
    legs = atlas.parts("upper_leg.L", "upper_leg.R", "lower_leg.L", "lower_leg.R", "torso")
    bottom_end = {"trousers": atlas.floor_y + 0.05, "shorts": knee_y + 0.12, "skirt": knee_y + 0.02,
                  "dress": knee_y - 0.05}[look.bottom]
    bottom = legs & (y < hip_y) & (y > bottom_end)
    if look.bottom == "dress":
        bottom = bottom | (atlas.parts("torso") & (y >= hip_y))
    return top, bottom


def paint_texture(atlas: UVAtlas, look: Appearance, rng: np.random.Generator) -> torch.Tensor:
    """(S, S, 3) float32 albedo texture of a subject wearing `look`."""
    pos, S = atlas.position, atlas.size
    noise = F.interpolate(torch.from_numpy(rng.normal(0, 1, (1, 1, S // 16, S // 16))).float(),
                          size=(S, S), mode="bilinear", align_corners=False)[0, 0]
    tex = torch.tensor(look.skin).expand(S, S, 3) * (1 + 0.04 * noise[..., None])
    y = pos[..., 1]
    top, bottom = garment_texels(atlas, look)
    if top is not None:
        colour = _pattern(look.top_pattern, torch.tensor(look.top_colour), pos, rng)
        tex = torch.where(top[..., None], colour, tex)
    # Bottoms (a dress continues the top's colour).
    base = look.top_colour if look.bottom == "dress" else look.bottom_colour
    pattern = look.top_pattern if look.bottom == "dress" else look.bottom_pattern
    below_hip = y < _hip_y(atlas)
    tex = torch.where((bottom & below_hip)[..., None], _pattern(pattern, torch.tensor(base), pos, rng), tex)
    if look.bottom == "dress":  # the bodice: the same colour, its own pattern draw
        tex = torch.where((bottom & ~below_hip)[..., None], _pattern(pattern, torch.tensor(base), pos, rng), tex)
    # Shoes.
    feet = atlas.parts("foot.L", "foot.R") | (atlas.parts("lower_leg.L", "lower_leg.R") & (y < atlas.floor_y + 0.09))
    tex = torch.where(feet[..., None], torch.tensor(look.shoes).expand(S, S, 3), tex)
    # Hair on the scalp; the style sets the hairline.
    if look.hair_style != "bald":
        head = atlas.parts("head")
        back = pos[..., 2] < atlas.head_centre_z - 0.02
        top_line, low = HAIRLINES[look.hair_style]
        hair = head & ((y > atlas.eyes_y + top_line) | (back & (y > atlas.eyes_y + low)))
        if look.hair_style == "long":  # falls onto the neck and upper back
            hair |= atlas.parts("neck", "torso") & (pos[..., 2] < atlas.head_centre_z - 0.03) & (y > atlas.eyes_y - 0.32)
        strand = 1 + 0.08 * torch.sin(pos[..., 0] * 400)[..., None]
        tex = torch.where(hair[..., None], torch.tensor(look.hair) * strand, tex)
    eyes = atlas.parts("eyes")
    tex = torch.where(eyes[..., None], torch.tensor([0.92, 0.92, 0.9]), tex)
    return paint_face(tex, atlas, look).clamp(0, 1)


def paint_face(tex: torch.Tensor, atlas: UVAtlas, look: Appearance) -> torch.Tensor:
    """Eyebrows (a darker shade of the hair), lips, the line between them, irises and pupils
    (see `face_features`)."""
    skin, hair = torch.tensor(look.skin), torch.tensor(look.hair)
    brow = hair * 0.7 if float(hair.mean()) > 0.15 else hair
    lips = skin * torch.tensor([0.86, 0.58, 0.58]) * (0.8 + 0.25 * look.lip_tint) + torch.tensor([0.08, 0.0, 0.01])
    features = (("brows", 0.85 * brow + 0.15 * skin), ("lips", lips), ("mouth", skin * 0.3),
                ("iris", torch.tensor(look.eye_colour or EYE_COLOURS[0].tolist())), ("pupil", torch.tensor([0.03, 0.03, 0.03])))
    for name, colour in features:
        tex = torch.where(atlas.face[name][..., None], colour.float(), tex)
    return tex


def shade(albedo: torch.Tensor, normal: torch.Tensor, world_to_cam: torch.Tensor, mask: torch.Tensor,
          look: Appearance) -> torch.Tensor:
    """Lambert shading under one key light + ambient, fixed in world space so every view of a
    subject is lit the same way. albedo, normal: (C, H, W, 3), normal in camera space;
    world_to_cam: (C, 4, 4); mask: (C, H, W). The light is turned into each camera
    (n_world . l = n_cam . R l), so normals stay in camera space."""
    light = torch.nn.functional.normalize(torch.tensor(look.light_direction), dim=0)
    light_cam = (world_to_cam[:, :3, :3].float() * light).sum(-1)  # (C, 3) = R l
    diffuse = (normal * light_cam[:, None, None, :]).sum(-1).clamp_min(0)
    weight = (look.ambient + (1 - look.ambient) * diffuse) * mask
    return (albedo * weight[..., None] * torch.tensor(look.light_colour)).clamp(0, 1)
