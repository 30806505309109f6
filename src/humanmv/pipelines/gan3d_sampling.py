"""Sampling 3DHumanGAN: K people, each in given poses and N views (`humanmv sample gan3d`).

    sampler = GAN3DSampler(GAN3DGenerator.from_pretrained(folder), body, renderer)
    posed = PosedBody.from_anny(body, params)
    cams = sampler.portrait_cameras(posed, ring_azimuths(16))
    views = sampler(z, posed, cams, truncation=0.7)   # rgb [C, H, W, 3], mask [C, H, W]

Framing is the training views' (`data.gan3d_views.portrait_box`): orbit cameras round the body
(the data engine's 30 degree rig), each view cut to a box of the GAN's aspect centred on the
body's silhouette, CROP_MARGIN x its height, so a person is as large as in training whatever
the pose. One z is one person: the same z row for every view and pose.

`sample_people(config)` writes, atomically:
    person-KKK/pose-PPP/views/NNN.png   RGBA (alpha = the generated mask), cameras.json, body.json
    grid.png                            people (rows) x views (columns) in their first pose
    turntable.mp4                       person 0 in pose 0 all round (TURNTABLE_FRAMES)
    walk.mp4                            person 0 walking (WALK_FRAMES of one cycle), same z
    samples.json                        checkpoint, seed, truncation, poses, timings
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from humanmv.body.anny_model import BodyParams
from humanmv.cameras import Cameras, orbit_cameras_around, ring_azimuths
from humanmv.errors import ConfigError

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "gan3d-small"
POSE_SOURCES = ("random", "walk")
RIG_FOV = 30.0          # the data engine's body rig
SILHOUETTE_CANVAS = 256  # square render the portrait boxes are found in (the engine's view size)
TURNTABLE_FRAMES = 48
WALK_FRAMES = 24
WALK_AZIMUTH = 45.0
VIDEO_SCALE = 2          # videos at twice the GAN's size, so they can be watched
FPS = 24


@dataclass
class GAN3DSampleConfig:
    """`humanmv sample gan3d` options. pose: "random" (each person a random plausible pose and
    body), "walk" (each a walking pose at a random phase) or a pose file (`body.pose_file`:
    every person in each of its bodies; people without a phenotype there get a random one)."""

    out: str
    checkpoint: str = str(DEFAULT_CHECKPOINT)
    pose: str = "random"
    views: int = 8
    count: int = 4
    seed: int = 0
    truncation: float = 0.7
    elevation: float = 0.0
    videos: bool = True
    overwrite: bool = False

    def validate(self) -> None:
        """ConfigError (one line naming the option) on a bad value; nothing is read or written."""
        if not 1 <= self.views <= 360:
            raise ConfigError(f"--views must be within 1..360, got {self.views}")
        if not 1 <= self.count <= 1000:
            raise ConfigError(f"--count must be within 1..1000, got {self.count}")
        if not (math.isfinite(self.truncation) and 0 <= self.truncation <= 1):
            raise ConfigError(f"--truncation must be within [0, 1], got {self.truncation}")
        if not (math.isfinite(self.elevation) and -60 <= self.elevation <= 60):
            raise ConfigError(f"--elevation must be within -60..60 degrees, got {self.elevation}")
        if self.pose not in POSE_SOURCES and not self.pose.endswith(".json"):
            raise ConfigError(f"--pose must be random, walk or a .json pose file, got {self.pose!r}")


@dataclass
class SampledViews:
    """rgb [C, H, W, 3] in [0, 1] (not composited), mask [C, H, W] in [0, 1], the C cameras."""

    rgb: torch.Tensor
    mask: torch.Tensor
    cameras: Cameras

    def on_white(self) -> torch.Tensor:
        """[C, H, W, 3] composited over white."""
        return self.rgb * self.mask[..., None] + (1 - self.mask[..., None])

    def rgba(self) -> torch.Tensor:
        """[C, H, W, 4]."""
        return torch.cat([self.rgb, self.mask[..., None]], dim=-1)


class GAN3DSampler:
    """A generator with the body and renderer it needs; `__call__(z, posed, cameras)`."""

    def __init__(self, generator, body, renderer) -> None:
        self.generator, self.body, self.renderer = generator.eval(), body, renderer

    @property
    def config(self):
        return self.generator.config

    def posed(self, params: BodyParams):
        from humanmv.models.gan3d import PosedBody

        return PosedBody.from_anny(self.body, params)

    def portrait_crops(self, posed, cameras: Cameras) -> tuple[Cameras, list[tuple[float, ...]]]:
        """`cameras` (each at its own size) cut to the portrait box of `posed`'s silhouette in
        each view: (the cropped cameras at the GAN's image size, the boxes in view pixels)."""
        from humanmv.data.gan3d_views import portrait_box

        c = self.config
        mask = self.renderer.render(posed.mesh(), cameras, outputs=("mask",)).mask.cpu()
        boxes = [portrait_box(mask[i, :h, :w], c.image_height, c.image_width)
                 for i, (w, h) in enumerate(cameras.sizes.tolist())]
        return cameras.cropped(boxes, c.image_width, c.image_height), boxes

    def portrait_cameras(self, posed, azimuths, elevation: float = 0.0) -> Cameras:
        """Cameras at the GAN's image size looking at `posed` from each azimuth (degrees):
        orbit cameras cut to the silhouette's portrait box (module docstring)."""
        az = torch.as_tensor(azimuths, dtype=torch.float32)
        orbit = orbit_cameras_around(posed.vertices, az, [float(elevation)] * len(az), RIG_FOV, SILHOUETTE_CANVAS,
                                     SILHOUETTE_CANVAS, margin=1.05, names=[f"{i:03d}" for i in range(len(az))])
        return self.portrait_crops(posed, orbit)[0]

    def samples(self, posed, cameras: Cameras):
        """ShellSamples of `posed` at `cameras` (the GAN's image size), on the generator's device."""
        from humanmv.models.gan3d import shell_samples

        c = self.config
        assert (cameras.height, cameras.width) == (c.image_height, c.image_width), (cameras.height, cameras.width)
        device = next(self.generator.parameters()).device
        return shell_samples(posed, cameras.resized(c.style_width, c.style_height), self.renderer,
                             c.shell_half_thickness, c.samples_per_ray).to(device)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, posed, cameras: Cameras, truncation: float = 0.7) -> SampledViews:
        """One person (z [1, Nz] or [Nz]) seen by `cameras` (at the GAN's image size)."""
        samples = self.samples(posed, cameras)
        z = z.reshape(1, self.config.z_dim).to(samples.mask.device).expand(len(cameras), -1)
        out = self.generator(z, samples, truncation=truncation)
        rgb = ((out.rgb.float().cpu() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
        return SampledViews(rgb, out.mask.float().cpu()[:, 0], cameras)

    def at_views(self, z: torch.Tensor, posed, cameras: Cameras, truncation: float = 0.7) -> SampledViews:
        """One person drawn in any `cameras` (each its own size, e.g. a data rig's squares):
        drawn at each view's portrait crop, then pasted back (`paste_portraits`)."""
        crops, boxes = self.portrait_crops(posed, cameras)
        drawn = self(z, posed, crops, truncation)
        return SampledViews(*paste_portraits(drawn.rgb, drawn.mask, boxes, cameras), cameras)


def paste_portraits(rgb: torch.Tensor, mask: torch.Tensor, boxes: list[tuple[float, ...]],
                    cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Portrait crops back into their views: rgb [C, h, w, 3] and mask [C, h, w] drawn at the
    crops `portrait_crops(posed, cameras)` made (`boxes` in view pixels) -> rgb [C, H, W, 3]
    (not composited, 0 where nothing was drawn) and mask [C, H, W] in [0, 1] on the views'
    canvas (each view top-left at its own size, the canvas the largest). Colour is resampled
    premultiplied by the mask, so the silhouette's edge does not bleed the background in."""
    from humanmv.models.inputs import crop_box

    C, h, w = mask.shape
    drawn = torch.cat([rgb * mask[..., None], mask[..., None]], dim=-1).permute(0, 3, 1, 2).float().cpu()
    canvas = torch.zeros(C, 4, int(cameras.sizes[:, 1].max()), int(cameras.sizes[:, 0].max()))
    for i, ((x0, y0, bw, bh), (vw, vh)) in enumerate(zip(boxes, cameras.sizes.tolist())):
        back = (-x0 * w / bw, -y0 * h / bh, vw * w / bw, vh * h / bh)  # the view's pixels in the portrait
        canvas[i, :, :vh, :vw] = crop_box(drawn[i:i + 1], back, vh, vw)[0]
    full_mask = canvas[:, 3].clamp(0, 1)
    full_rgb = (canvas[:, :3] / full_mask[:, None].clamp_min(1e-4)).clamp(0, 1).permute(0, 2, 3, 1)
    return full_rgb * (full_mask[..., None] > 0), full_mask


def person_bodies(config: GAN3DSampleConfig, body) -> list[list[tuple[BodyParams, str]]]:
    """For each of config.count people: its [(BodyParams, pose label)] (deterministic from the seed)."""
    from humanmv.body.pose_file import read_pose_file
    from humanmv.data.engine import SubjectSampler, sample_pose

    shapes = SubjectSampler(body)
    given = read_pose_file(config.pose, body.expression_names) if config.pose not in POSE_SOURCES else None
    people = []
    for k in range(config.count):
        rng = np.random.default_rng([config.seed, k])
        phenotype, _ = shapes.phenotype(config.seed * 100_003 + k)
        expression = torch.zeros(len(body.expression_names))
        if given is None:
            family = "walking" if config.pose == "walk" else "random"
            pose = sample_pose(rng, family)
            people.append([(BodyParams(pose[None], phenotype[None], expression[None]), family)])
        else:
            people.append([(params if has_shape else BodyParams(params.pose, phenotype[None], params.expression),
                            f"file body {i}") for i, (params, has_shape) in enumerate(given)])
    return people


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _video_frames(views: SampledViews) -> np.ndarray:
    frames = views.on_white().permute(0, 3, 1, 2)
    frames = F.interpolate(frames, scale_factor=VIDEO_SCALE, mode="bilinear", align_corners=False)
    return _uint8(frames.permute(0, 2, 3, 1))


def sample_people(config: GAN3DSampleConfig, body=None, renderer=None, generator=None) -> dict:
    """Everything of the module docstring into config.out (atomically); returns samples.json's dict.
    `body`, `renderer`, `generator`: built when not given (the generator from config.checkpoint)."""
    from humanmv.data.engine import walking_pose
    from humanmv.io.atomic import atomic_output_dir, refuse_existing_output
    from humanmv.io.grid import save_grid
    from humanmv.io.images import save_png
    from humanmv.io.transforms import save_cameras_json
    from humanmv.io.video import save_turntable
    from humanmv.models.gan3d import GAN3DGenerator

    config.validate()
    refuse_existing_output(Path(config.out), config.overwrite)  # before any model is loaded
    timings: dict[str, float] = {}
    t = time.perf_counter()
    if generator is None:
        generator = GAN3DGenerator.from_pretrained(config.checkpoint)
    if body is None:
        from humanmv.body.anny_model import AnnyBody

        body = AnnyBody()
    if renderer is None:
        from humanmv.render import Renderer

        renderer = Renderer()
    sampler = GAN3DSampler(generator, body, renderer)
    people = person_bodies(config, body)
    z = torch.randn(config.count, sampler.config.z_dim, generator=torch.Generator().manual_seed(config.seed))
    timings["start"] = time.perf_counter() - t

    with atomic_output_dir(config.out, overwrite=config.overwrite) as tmp:
        t = time.perf_counter()
        azimuths = ring_azimuths(config.views)
        first_poses, poses_json = [], []
        for k, bodies in enumerate(people):
            for p, (params, label) in enumerate(bodies):
                posed = sampler.posed(params)
                views = sampler(z[k], posed, sampler.portrait_cameras(posed, azimuths, config.elevation),
                                config.truncation)
                folder = tmp / f"person-{k:03d}" / f"pose-{p:03d}"
                (folder / "views").mkdir(parents=True)
                for name, image in zip(views.cameras.names, _uint8(views.rgba())):
                    save_png(folder / "views" / f"{name}.png", image, fsync=False)
                save_cameras_json(folder / "cameras.json", views.cameras)
                (folder / "body.json").write_text(json.dumps(params.to_dict(body.expression_names), indent=1))
                poses_json.append({"person": k, "pose": p, "source": label})
                if p == 0:
                    first_poses.append(views.on_white())
        save_grid(tmp / "grid.png", torch.cat(first_poses), cols=config.views, pad=2)
        timings["views"] = time.perf_counter() - t

        if config.videos:
            t = time.perf_counter()
            params, _ = people[0][0]
            posed = sampler.posed(params)
            ring = sampler.portrait_cameras(posed, ring_azimuths(TURNTABLE_FRAMES), config.elevation)
            save_turntable(tmp / "turntable.mp4", _video_frames(sampler(z[0], posed, ring, config.truncation)), FPS)
            frames = []
            for f in range(WALK_FRAMES):
                step = BodyParams(walking_pose(2 * math.pi * f / WALK_FRAMES)[None], params.phenotype, params.expression)
                walker = sampler.posed(step)
                cams = sampler.portrait_cameras(walker, [WALK_AZIMUTH], config.elevation)
                frames.append(_video_frames(sampler(z[0], walker, cams, config.truncation)))
            save_turntable(tmp / "walk.mp4", np.concatenate(frames), FPS)
            timings["videos"] = time.perf_counter() - t
        summary = {**asdict(config), "generator": sampler.config.name, "image_size": [sampler.config.image_width,
                   sampler.config.image_height], "poses": poses_json,
                   "timings_s": {k: round(v, 3) for k, v in timings.items()}}
        (tmp / "samples.json").write_text(json.dumps(summary, indent=1))
    return summary


__all__ = ["GAN3DSampleConfig", "GAN3DSampler", "SampledViews", "sample_people", "person_bodies",
           "paste_portraits", "DEFAULT_CHECKPOINT"]
