"""Garment and hair kinds: a `ShellSpec` (kind + named parameters, JSON-ready) -> shells on a
bind body. The engine samples specs for its clothed presets; the surface stage fits the
parameters of the kinds a photo's silhouette calls for.

Heights are measured on the bind body the way `data.appearance` paints garments (hips at half
the body's height, knees at 0.28 of it, hairlines above the eyes), so a shell covers the
texels painted in its colour.

| kind | made as | parameters (metres unless said) |
|---|---|---|
| loose-top | offset of torso (+ sleeves) | looseness, sleeves (0 none, 1 short, 2 long) |
| coat | loose top with long sleeves + a tube over the hips | looseness, length (0..1 hip -> knee), flare |
| trousers / shorts | offset of the legs, wider to the hem | width (at the hem) |
| skirt / dress | tube from the waist / the armpits down to the hem | hem (0..1 knee -> ankle; < 0 above the knee), flare, gap |
| shoes | offset of the feet | thickness |
| short-hair / curly-hair | offset of the scalp | thickness (curls: with bumps); front, back: the hairline above the eyes |
| long-hair | scalp + a curtain over the back and sides | length (below the eyes), volume |
| bun / ponytail | scalp + a swept tube at the back of the head | radius (bun), length (ponytail) |
| hat / beanie | tube round the head (hat: with a brim) | brim, gap |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from humanmv.shells.geometry import offset_shell, swept_shell, tube_shell
from humanmv.shells.labels import label_of
from humanmv.shells.shell import BindBody, Shell


@dataclass
class ShellSpec:
    """One garment or hair piece: `kind` (see the module table) and its parameters (floats,
    or tensors while being fitted)."""

    kind: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready, unrounded: a shell's vertices take their nearest body vertex as anchor, and
        a parameter rounded to 1e-5 can move a hem vertex's anchor to its neighbour."""
        return {"kind": self.kind, "params": {k: float(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "ShellSpec":
        return cls(str(data["kind"]), {k: float(v) for k, v in data.get("params", {}).items()})


@dataclass
class Landmarks:
    """Heights (world y, metres) and points of a bind body the kinds are placed by."""

    floor: float
    height: float
    hip: float
    knee: float
    ankle: float
    shoulder: float
    eyes: float
    top: float
    head_centre: torch.Tensor

    @classmethod
    def of(cls, bind: BindBody) -> "Landmarks":
        floor, top = bind.floor_y, bind.top_y
        h = top - floor
        head = bind.vertices[bind.part_mask("head")]
        return cls(floor, h, floor + 0.5 * h, floor + 0.28 * h, bind.y("left_ankle", "right_ankle"),
                   bind.y("left_shoulder", "right_shoulder"), bind.y("left_eye", "right_eye"), top, head.mean(0))


def _value(params: dict, name: str, default: float):
    v = params.get(name, default)
    return v if torch.is_tensor(v) else torch.tensor(float(v))


def _scalp(bind: BindBody, marks: Landmarks, front: float, back: float) -> torch.Tensor:
    """(V,) bool: the scalp above a hairline `front` m above the eyes, `back` m at the back."""
    v = bind.vertices
    behind = v[:, 2] < float(marks.head_centre[2]) - 0.02
    return bind.part_mask("head") & ((v[:, 1] > marks.eyes + front) | (behind & (v[:, 1] > marks.eyes + back)))


def _hair_on_scalp(bind, marks, thickness, front=0.05, back=-0.03, curls: float = 0.0) -> Shell:
    region = _scalp(bind, marks, front, back)
    t = thickness * torch.ones(bind.vertices.shape[0])
    if curls > 0:
        p = bind.vertices * 90.0
        bumps = torch.sin(p[:, 0]) * torch.sin(p[:, 1] + 1.3) * torch.sin(p[:, 2] + 0.7)
        t = t * (1 + curls * bumps)
    return offset_shell("scalp-hair", label_of("hair"), bind, region, t)


def _top(bind, marks, looseness, sleeves: int, kind: str = "loose-top") -> Shell:
    v = bind.vertices
    parts = ["torso"] + (["upper_arm"] if sleeves >= 1 else []) + (["lower_arm"] if sleeves >= 2 else [])
    region = bind.part_mask(*parts) & (v[:, 1] > marks.hip)
    # Close at the neck: the collar sits on the body.
    taper = ((marks.shoulder + 0.04 - v[:, 1]) / 0.08).clamp(0.2, 1.0)
    return offset_shell(kind, label_of("upper_garment"), bind, region, looseness * taper)


def _legs(bind, marks, width, hem_y: float, kind: str) -> Shell:
    v = bind.vertices
    region = (bind.part_mask("upper_leg", "lower_leg") | (bind.part_mask("torso") & (v[:, 1] < marks.hip + 0.03))) \
        & (v[:, 1] > hem_y)
    t = ((marks.hip - v[:, 1]) / max(marks.hip - hem_y, 1e-3)).clamp(0, 1)
    return offset_shell(kind, label_of("lower_garment"), bind, region, 0.005 + (width - 0.005) * t)


def _skirt_tube(bind, marks, kind: str, top_y: float, hem, flare, gap, label: str, rings: int = 14) -> Shell:
    allowed = bind.part_mask("torso", "upper_leg", "lower_leg")
    s = torch.linspace(0, 1, rings)
    heights = top_y + (hem - top_y) * s
    push = gap + flare * s
    return tube_shell(kind, label_of(label), bind, allowed, heights, push, monotone=True)


def _hem_height(marks: Landmarks, hem) -> torch.Tensor:
    """hem in 0..1 from the knee to the ankle (negative: above the knee, in the same units)."""
    return marks.knee + (marks.ankle - marks.knee) * hem


def build_skirt(bind, p, marks):
    hem = _hem_height(marks, _value(p, "hem", 0.0))
    return [_skirt_tube(bind, marks, "skirt", marks.hip + 0.06, hem, _value(p, "flare", 0.04),
                        _value(p, "gap", 0.01), "dress")]


def build_dress(bind, p, marks):
    hem = _hem_height(marks, _value(p, "hem", 0.2))
    return [_skirt_tube(bind, marks, "dress", marks.shoulder - 0.12, hem, _value(p, "flare", 0.05),
                        _value(p, "gap", 0.012), "dress", rings=20)]


def build_coat(bind, p, marks):
    loose = _value(p, "looseness", 0.03)
    length = float(_value(p, "length", 0.5))
    hem = marks.hip + (marks.knee - marks.hip) * length
    return [_top(bind, marks, loose, 2, "coat-top"),
            _skirt_tube(bind, marks, "coat", marks.hip + 0.02, torch.tensor(hem), _value(p, "flare", 0.03),
                        loose, "upper_garment", rings=8)]


def build_long_hair(bind, p, marks):
    length, volume = _value(p, "length", 0.3), _value(p, "volume", 0.02)
    allowed = bind.part_mask("head", "neck", "torso")
    s = torch.linspace(0, 1, 14)
    heights = marks.eyes + 0.03 - (length + 0.03) * s
    push = 0.012 + volume * s.sqrt()
    curtain = tube_shell("long-hair", label_of("hair"), bind, allowed, heights, push, segments=40,
                         arc=(math.radians(75), math.radians(285)), monotone=True)
    return [_hair_on_scalp(bind, marks, 0.012, 0.04, -0.2), curtain]


def _back_of_head(bind, marks, above_eyes: float) -> torch.Tensor:
    """(3,) the back-most head point at `above_eyes` m above the eyes, near the middle."""
    v = bind.vertices
    near = bind.part_mask("head") & ((v[:, 1] - (marks.eyes + above_eyes)).abs() < 0.015) & (v[:, 0].abs() < 0.03)
    pts = v[near]
    return pts[pts[:, 2].argmin()]


def build_bun(bind, p, marks):
    r = _value(p, "radius", 0.045)
    base = _back_of_head(bind, marks, 0.07)
    direction = torch.nn.functional.normalize(torch.tensor([0.0, 0.6, -1.0]), dim=0)
    s = torch.linspace(0, 1, 10)
    centres = base + (-0.2 * r + 2.1 * r * s)[:, None] * direction
    radii = r * torch.sin(math.pi * s).clamp_min(0).sqrt()
    allowed = bind.part_mask("head")
    return [_hair_on_scalp(bind, marks, 0.01, 0.045, -0.07),
            swept_shell("bun", label_of("hair"), bind, allowed, centres, radii)]


def build_ponytail(bind, p, marks):
    length = float(_value(p, "length", 0.22))
    base = _back_of_head(bind, marks, 0.05)
    s = torch.linspace(0, 1, 12)
    # Out from the head, then down the back.
    centres = base + torch.stack([torch.zeros_like(s), -length * s.square(),
                                  -0.03 - 0.04 * torch.sin(s * math.pi / 2)], -1)
    radii = 0.028 * (1 - 0.55 * s) * torch.sin(math.pi * s.clamp(0, 0.15) / 0.3)
    radii = torch.where(s > 0.15, 0.028 * (1 - 0.55 * s), radii)
    allowed = bind.part_mask("head", "neck", "torso")
    return [_hair_on_scalp(bind, marks, 0.01, 0.045, -0.07),
            swept_shell("ponytail", label_of("hair"), bind, allowed, centres, radii)]


def build_hat(bind, p, marks, kind: str = "hat"):
    brim, gap = float(_value(p, "brim", 0.06)), float(_value(p, "gap", 0.012))
    allowed = bind.part_mask("head")
    bottom = marks.eyes + 0.045
    top = marks.top + (0.05 if kind == "hat" else gap)
    R = 8
    crown = [top - (top - bottom) * k / (R - 1) for k in range(R)]
    if kind == "hat":  # a straight crown measured at the forehead, then the brim
        heights = torch.tensor(crown + [bottom - 0.002])
        outline = [bottom] * (R + 1)
        push = torch.tensor([gap] * R + [gap + brim])
    else:  # follows the head
        heights = torch.tensor(crown)
        outline = [min(h, marks.top - 0.015) for h in crown]
        push = torch.full((R,), gap)
    return [tube_shell(kind, label_of("headwear"), bind, allowed, heights, push, outline_heights=outline,
                       top_pole=True, pole_rise=0.0 if kind == "hat" else 0.01)]


BUILDERS = {
    "loose-top": lambda b, p, m: [_top(b, m, _value(p, "looseness", 0.02), int(_value(p, "sleeves", 1)))],
    "coat": build_coat,
    "trousers": lambda b, p, m: [_legs(b, m, _value(p, "width", 0.02), m.floor + 0.05, "trousers")],
    "shorts": lambda b, p, m: [_legs(b, m, _value(p, "width", 0.02), m.knee + 0.12, "shorts")],
    "skirt": build_skirt,
    "dress": build_dress,
    "shoes": lambda b, p, m: [offset_shell("shoes", label_of("shoes"), b,
                                           b.part_mask("foot") | (b.part_mask("lower_leg")
                                                                  & (b.vertices[:, 1] < m.floor + 0.09)),
                                           _value(p, "thickness", 0.008) * torch.ones(b.vertices.shape[0]))],
    "short-hair": lambda b, p, m: [_hair_on_scalp(b, m, _value(p, "thickness", 0.01), float(_value(p, "front", 0.05)),
                                                  float(_value(p, "back", -0.03)))],
    "curly-hair": lambda b, p, m: [_hair_on_scalp(b, m, _value(p, "thickness", 0.035), 0.045, -0.07, curls=0.35)],
    "long-hair": build_long_hair,
    "bun": build_bun,
    "ponytail": build_ponytail,
    "hat": build_hat,
    "beanie": lambda b, p, m: build_hat(b, p, m, "beanie"),
}
KINDS = tuple(BUILDERS)


def build_shells(bind: BindBody, specs: list[ShellSpec]) -> list[Shell]:
    """The shells of `specs` on `bind`, in order (a kind may make more than one shell)."""
    marks = Landmarks.of(bind)
    shells = []
    for spec in specs:
        if spec.kind not in BUILDERS:
            raise ValueError(f"unknown shell kind {spec.kind!r}; one of {', '.join(KINDS)}")
        for shell in BUILDERS[spec.kind](bind, spec.params, marks):
            shell.params = spec.to_dict()["params"] if not any(torch.is_tensor(v) and v.requires_grad
                                                               for v in spec.params.values()) else {}
            shells.append(shell)
    return shells
