"""The synthetic subject engine: seed -> a person (phenotype, pose, expression, appearance)
-> ground-truth `Views` on a camera rig, which `data.format` writes as a subject folder.

Phenotypes come from Anny's own age-calibrated sampler (WHO height-for-age), so ages, sexes
and builds cover the population. Poses come in families: A-pose, T-pose, natural standing,
walking (opposite arm/leg swing at a random phase) and random plausible poses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from humanmv.body.anny_model import POSE_BONES, AnnyBody, BodyParams
from humanmv.body.sampling import sample_body_params, sample_photo_camera
from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.data.appearance import Appearance, UVAtlas, paint_texture, sample_appearance, shade
from humanmv.data.outfits import paint_charts, sample_outfit
from humanmv.errors import ConfigError
from humanmv.render import Renderer
from humanmv.shells.garments import ShellSpec, build_shells
from humanmv.shells.shell import BindBody, ShellPoser, dress_mesh
from humanmv.views import Views

POSE_FAMILIES = ("a-pose", "t-pose", "standing", "walking", "random")


@dataclass(frozen=True)
class Preset:
    """A camera rig and image size. rig "body" frames the whole body, "head" the head,
    "portrait" the head with the neck, collar and shoulders below it (`rig_focus`).
    split: the split of every subject (bench presets: "test"); None splits by subject."""

    name: str
    rig: str
    azimuths: tuple[float, ...]
    elevations: tuple[float, ...]
    size: int
    expressions: bool = False
    split: str | None = None
    clothed: bool = False


def _ring(n: int, start: float = 0.0) -> tuple[float, ...]:
    return tuple(ring_azimuths(n, start).tolist())


PRESETS = {
    # 24 views at elevation 0 plus raised and lowered rings of 8.
    "body-train": Preset("body-train", "body", _ring(24) + _ring(8, 22.5) * 2, (0.0,) * 24 + (20.0,) * 8 + (-10.0,) * 8, 256),
    "body-bench": Preset("body-bench", "body", _ring(24), (0.0,) * 24, 256, split="test"),
    # Clothes and hair as geometry (`shells`): skirts, dresses, coats, long hair, buns, hats.
    "body-train-clothed": Preset("body-train-clothed", "body", _ring(24) + _ring(8, 22.5) * 2,
                                 (0.0,) * 24 + (20.0,) * 8 + (-10.0,) * 8, 256, clothed=True),
    "body-bench-clothed": Preset("body-bench-clothed", "body", _ring(24), (0.0,) * 24, 256, split="test",
                                 clothed=True),
    # Head all round (seed 003): 36 views, and a continuous sequence is any run of neighbours.
    "head-train": Preset("head-train", "head", _ring(36), (0.0,) * 36, 256, expressions=True),
    "head-bench": Preset("head-bench", "head", _ring(16), (0.0,) * 16, 256, expressions=True, split="test"),
    # Portraits all round with hair as geometry (short, curly, bun, ponytail, long; bald and
    # buzz cuts painted), hats, the collar of the outfit: seeds 001 / 003's heads.
    "head-train-haired": Preset("head-train-haired", "portrait", _ring(36), (0.0,) * 36, 256, expressions=True,
                                clothed=True),
    "head-bench-haired": Preset("head-bench-haired", "portrait", _ring(16), (0.0,) * 16, 256, expressions=True,
                                split="test", clothed=True),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown --preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def walking_pose(phase: float) -> torch.Tensor:
    """(len(POSE_BONES), 3) pose of the walk cycle at `phase` radians (period 2 pi): legs swing
    opposite to the arms, the knee of the leg in front bends."""
    pose = torch.zeros(len(POSE_BONES), 3)
    b = POSE_BONES.index
    swing = 0.45 * float(np.sin(phase))
    pose[b("upperleg01.L"), 0] = -swing
    pose[b("upperleg01.R"), 0] = swing
    pose[b("lowerleg01.L"), 0] = 0.2 + max(0.0, swing) * 0.8
    pose[b("lowerleg01.R"), 0] = 0.2 + max(0.0, -swing) * 0.8
    pose[b("upperarm01.L"), 1] = 0.55
    pose[b("upperarm01.R"), 1] = -0.55
    pose[b("upperarm01.L"), 0] = 0.6 * swing
    pose[b("upperarm01.R"), 0] = -0.6 * swing
    return pose


def sample_pose(rng: np.random.Generator, family: str) -> torch.Tensor:
    """(len(POSE_BONES), 3) local-ref axis-angle pose of a family (see module docstring)."""
    pose = torch.zeros(len(POSE_BONES), 3)
    b = POSE_BONES.index
    jitter = lambda s: torch.tensor(rng.normal(0, s, 3), dtype=torch.float32)  # noqa: E731
    if family == "t-pose":
        pose[b("upperarm01.L")] = torch.tensor([0.0, 0.0, 0.0]) + jitter(0.05)
        pose[b("upperarm01.L"), 1] = -0.75
        pose[b("upperarm01.R")] = jitter(0.05)
        pose[b("upperarm01.R"), 1] = 0.75
    elif family == "standing":
        pose[b("upperarm01.L"), 1] = 0.55 + rng.normal(0, 0.08)
        pose[b("upperarm01.R"), 1] = -0.55 + rng.normal(0, 0.08)
        pose[b("lowerarm01.L"), 0] = -abs(rng.normal(0.1, 0.1))
        pose[b("lowerarm01.R"), 0] = -abs(rng.normal(0.1, 0.1))
        pose[b("head")] = jitter(0.08)
    elif family == "walking":
        pose = walking_pose(rng.uniform(0, 2 * np.pi))
    elif family == "random":
        pose = sample_body_params(rng).pose[0]
    elif family != "a-pose":
        raise ValueError(f"unknown pose family {family!r}; choose from {POSE_FAMILIES}")
    return pose


@dataclass
class SubjectSpec:
    """Everything that defines one synthetic subject (meta.json stores it)."""

    seed: int
    params: BodyParams
    pose_family: str
    age_years: float
    appearance: Appearance
    outfit: list[ShellSpec] | None = None

    def to_meta(self, body: AnnyBody, preset: Preset) -> dict:
        meta = {"kind": "synthetic", "preset": preset.name, "seed": self.seed,
                "pose_family": self.pose_family, "age_years": round(self.age_years, 2),
                "body": self.params.to_dict(body.expression_names),
                "appearance": self.appearance.to_dict()}
        if self.outfit is not None:
            meta["outfit"] = [spec.to_dict() for spec in self.outfit]
        return meta


class SubjectSampler:
    """seed -> SubjectSpec for one body model. Holds Anny's calibrated phenotype sampler
    (reading its calibration files costs ~50 ms, so it is built once)."""

    def __init__(self, body: AnnyBody) -> None:
        from anny.shape_distribution import SimpleShapeDistribution

        self.body = body
        self.shapes = SimpleShapeDistribution(body.anny)

    def phenotype(self, seed: int) -> tuple[torch.Tensor, float]:
        """(6,) phenotype in PHENOTYPE_NAMES order and the morphological age in years (the
        sampler's torch sampling is seeded locally; the global RNG is untouched)."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            age, kwargs = self.shapes.sample(1)
        names = self.body.anny.phenotype_labels
        values = torch.tensor([float(kwargs[n][0]) if n in kwargs else 0.5 for n in names])
        return values.clamp(0, 1), float(age[0])

    def __call__(self, seed: int, expressions: bool = False, clothed: bool = False) -> SubjectSpec:
        rng = np.random.default_rng(seed)
        family = POSE_FAMILIES[int(rng.integers(len(POSE_FAMILIES)))]
        pose = sample_pose(rng, family)
        phenotype, age = self.phenotype(seed)
        expression = torch.zeros(len(self.body.expression_names))
        if expressions:
            active = rng.choice(len(expression), size=3, replace=False)
            expression[active] = torch.tensor(rng.uniform(0.2, 0.8, 3), dtype=torch.float32)
        params = BodyParams(pose[None], phenotype[None], expression[None])
        look = sample_appearance(rng)
        # From a generator of its own, so a clothed subject is its unclothed self, dressed.
        outfit = sample_outfit(np.random.default_rng([seed, 7]), look) if clothed else None
        return SubjectSpec(seed, params, family, age, look, outfit)


def rig_focus(body: AnnyBody, vertices: torch.Tensor, rig: str) -> torch.Tensor:
    """The vertices [N, 3] of the posed body `vertices` [V, 3] a rig frames: all of them
    ("body"), the head's ("head"), or a portrait's ("portrait": `AnnyBody.portrait_vertex_mask`,
    the head with the neck, collar and shoulders)."""
    if rig == "body":
        return vertices
    if rig == "head":
        return vertices[body.head_vertex_mask()]
    assert rig == "portrait", rig
    return vertices[body.portrait_vertex_mask(vertices)]


def subject_cameras(body: AnnyBody, vertices: torch.Tensor, preset: Preset, rng: np.random.Generator) -> Cameras:
    """The preset's rig round the posed body `vertices` [V, 3] (`rig_focus`), named 000, 001,
    ..., plus one jittered "input" photo camera drawn from `rng` (the last view)."""
    focus = rig_focus(body, vertices, preset.rig)
    fov = 30.0 if preset.rig == "body" else 25.0
    rig = orbit_cameras_around(focus, preset.azimuths, preset.elevations, fov, preset.size,
                               preset.size, margin=1.05)
    centre = (focus.min(0).values + focus.max(0).values) / 2
    radius = float((focus - centre).norm(dim=-1).max())
    photo = sample_photo_camera(rng, centre, radius, preset.size, preset.size, az_range=30.0)
    return Cameras(torch.cat([rig.K, photo.K]), torch.cat([rig.world_to_cam, photo.world_to_cam]),
                   preset.size, preset.size, [f"{i:03d}" for i in range(len(rig))] + ["input"],
                   torch.cat([rig.az, photo.az]), torch.cat([rig.el, photo.el]))


class SubjectRenderer:
    """Renders subjects on a preset's rig. Build once per process (body, atlas, renderer)."""

    def __init__(self, body: AnnyBody, renderer: Renderer, texture_size: int = 512) -> None:
        self.body, self.renderer = body, renderer
        self.atlas = UVAtlas(body, texture_size)

    def __call__(self, spec: SubjectSpec, preset: Preset) -> Views:
        """The rig's views plus one jittered "input" photo camera (the last view)."""
        rng = np.random.default_rng(spec.seed + 1_000_003)
        with torch.no_grad():
            verts = self.body(spec.params).vertices[0]
        cams = subject_cameras(self.body, verts, preset, rng)
        texture = paint_texture(self.atlas, spec.appearance, rng)
        mesh = self.body.mesh(verts, texture=texture)
        if spec.outfit:
            mesh = self.dressed(spec, mesh)
        out = self.renderer.render(mesh, cams, outputs=("rgb", "mask", "normal", "depth", "labels"))
        rgb = shade(out.rgb, out.normal, cams.world_to_cam, out.mask, spec.appearance)
        return Views(cams, rgb, out.mask, out.normal, out.depth, out.labels, spec.to_meta(self.body, preset))

    def dressed(self, spec: SubjectSpec, mesh):
        """`mesh` (the posed, painted body) with the outfit's shells, their charts painted."""
        bind = BindBody.of(self.body, spec.params)
        shells = build_shells(bind, spec.outfit)
        poser = ShellPoser(self.body, spec.params)
        with torch.no_grad():
            posed = [poser.pose(shell, spec.params.pose[0]) for shell in shells]
        texture = paint_charts(mesh.texture, shells, spec.appearance, np.random.default_rng([spec.seed, 8]))
        return dress_mesh(replace(mesh, texture=texture), shells, posed)
