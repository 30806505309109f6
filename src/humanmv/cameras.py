"""Pinhole cameras, orbit view sets and their (de)serialisation.

Conventions (see docs/architecture.md):
- World: metres, Y up, subject at the origin facing +Z.
- Cameras: OpenCV (x right, y down, z forward). `world_to_cam` is a world-to-camera 4x4;
  `K` holds intrinsics in pixels, pixel centres at integer + 0.5 (the renderer's convention).
- Orbit camera at azimuth `az`, elevation `el` (degrees), distance `d` from the target:
  position = target + (d sin az cos el, d sin el, d cos az cos el), looking at the target.
  az = 0 is the front view, az = 90 shows the subject's left side (+X), az = 180 the back.
- Image sizes: every view has its own (width, height) (`Cameras.sizes`; real rigs mix sensors).
  Batched images of a camera set share one canvas, the largest width x the largest height over
  the views (`Cameras.width`, `Cameras.height`). `K` counts pixels from the top-left corner, so
  view i's own image is exactly the top-left width_i x height_i corner of its canvas; the rest
  of the canvas is background. A point that projects outside view i's own size is not seen by
  view i, even where it lands on the canvas.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from humanmv.errors import ConfigError

WORLD_UP = (0.0, 1.0, 0.0)


@dataclass
class Cameras:
    """A batch of C pinhole cameras, each with its own image size.

    Attributes:
        K: (C, 3, 3) float32 intrinsics in pixels, counted from view i's top-left corner.
        world_to_cam: (C, 4, 4) float32 world-to-camera transforms (OpenCV axes).
        width, height: the canvas in pixels: the largest width and the largest height over the
            views, the (H, W) of every batched image of these cameras.
        names: C view names (e.g. "000").
        az, el: (C,) float32 orbit angles in degrees, NaN where a camera is not an orbit view.
        sizes: (C, 2) int64 (width, height) of each view. None means every view is
            width x height; given, width and height must be its column maxima (checked, so a
            canvas never silently crops a view). `with_sizes` computes the canvas for you.
    View i's image is the top-left sizes[i] corner of the canvas (module docstring).
    """

    K: torch.Tensor
    world_to_cam: torch.Tensor
    width: int
    height: int
    names: list[str] = field(default_factory=list)
    az: torch.Tensor | None = None
    el: torch.Tensor | None = None
    sizes: torch.Tensor | None = None

    def __post_init__(self) -> None:
        C = self.K.shape[0]
        if self.K.shape != (C, 3, 3) or self.world_to_cam.shape != (C, 4, 4):
            raise ValueError(
                f"cameras need K (C,3,3) and world_to_cam (C,4,4), got {tuple(self.K.shape)} "
                f"and {tuple(self.world_to_cam.shape)}"
            )
        self.width, self.height = int(self.width), int(self.height)
        if self.sizes is None:
            self.sizes = torch.tensor([[self.width, self.height]], dtype=torch.int64).repeat(C, 1)
        else:
            self.sizes = torch.as_tensor(self.sizes, dtype=torch.int64).detach().cpu().clone()
            if self.sizes.shape != (C, 2) or (C and int(self.sizes.min()) < 1):
                raise ValueError(f"sizes must be (C, 2) = ({C}, 2) positive (width, height), "
                                 f"got {tuple(self.sizes.shape)}")
            canvas = tuple(self.sizes.max(0).values.tolist()) if C else (self.width, self.height)
            if canvas != (self.width, self.height):
                raise ValueError(f"width x height must be the largest view size {canvas[0]}x"
                                 f"{canvas[1]}, got {self.width}x{self.height}")
        if not self.names:
            self.names = [f"{i:03d}" for i in range(C)]
        nan = torch.full((C,), float("nan"))
        self.az = nan.clone() if self.az is None else self.az.float()
        self.el = nan.clone() if self.el is None else self.el.float()

    @classmethod
    def with_sizes(cls, K: torch.Tensor, world_to_cam: torch.Tensor,
                   sizes: torch.Tensor | Sequence[Sequence[int]], names: list[str] | None = None,
                   az: torch.Tensor | None = None, el: torch.Tensor | None = None) -> "Cameras":
        """Cameras whose views have their own `sizes` (C, 2) (width, height), on the canvas
        that holds them all (the largest width and height)."""
        sizes = torch.as_tensor(sizes, dtype=torch.int64)
        if sizes.dim() != 2 or sizes.shape[0] == 0:
            raise ValueError(f"sizes must be (C, 2) with C >= 1, got {tuple(sizes.shape)}")
        width, height = sizes.max(0).values.tolist()
        return cls(K, world_to_cam, width, height, names or [], az, el, sizes)

    @classmethod
    def cat(cls, parts: Sequence["Cameras"]) -> "Cameras":
        """One camera set of the views of `parts` in order, each keeping its size."""
        if not parts:
            raise ValueError("Cameras.cat needs at least one camera set")
        return cls.with_sizes(torch.cat([p.K for p in parts]),
                              torch.cat([p.world_to_cam for p in parts]),
                              torch.cat([p.sizes for p in parts]),
                              [n for p in parts for n in p.names],
                              torch.cat([p.az for p in parts]), torch.cat([p.el for p in parts]))

    def __len__(self) -> int:
        return self.K.shape[0]

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> "Cameras":
        """The cameras at `index`, each keeping its size, on the canvas of the selected views
        (an empty selection keeps this canvas)."""
        idx = torch.as_tensor([index]) if isinstance(index, int) else index
        if isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        idx = torch.as_tensor(idx, dtype=torch.long)
        sizes = self.sizes[idx]
        width, height = sizes.max(0).values.tolist() if len(idx) else (self.width, self.height)
        return Cameras(
            K=self.K[idx],
            world_to_cam=self.world_to_cam[idx],
            width=width,
            height=height,
            names=[self.names[i] for i in idx.tolist()],
            az=self.az[idx],
            el=self.el[idx],
            sizes=sizes,
        )

    @property
    def mixed_sizes(self) -> bool:
        """Whether the views differ in size (some view is smaller than the canvas)."""
        return bool((self.sizes != torch.tensor([self.width, self.height])).any())

    def valid_mask(self) -> torch.Tensor:
        """(C, H, W) bool on the canvas: True on view i's own top-left sizes[i] corner."""
        cols = torch.arange(self.width)[None, None, :] < self.sizes[:, 0, None, None]
        rows = torch.arange(self.height)[None, :, None] < self.sizes[:, 1, None, None]
        return rows & cols

    @property
    def cam_to_world(self) -> torch.Tensor:
        """(C, 4, 4) camera-to-world transforms."""
        return torch.linalg.inv(self.world_to_cam)

    @property
    def centers(self) -> torch.Tensor:
        """(C, 3) camera positions in world space."""
        return self.cam_to_world[:, :3, 3]

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points into every camera.

        Args:
            points: (N, 3) or (C, N, 3) world points.
        Returns:
            pixels (C, N, 2) in pixel units (x right, y down), depth (C, N) camera-space z.
        """
        if points.dim() == 2:
            points = points.unsqueeze(0).expand(len(self), -1, -1)
        R = self.world_to_cam[:, :3, :3].to(points)
        t = self.world_to_cam[:, :3, 3].to(points)
        cam = points @ R.transpose(1, 2) + t[:, None]
        z = cam[..., 2]
        uvw = cam @ self.K.to(points).transpose(1, 2)
        pixels = uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-8)
        return pixels, z

    def resized(self, width: int, height: int) -> "Cameras":
        """The same cameras with every view width x height (intrinsics scaled per axis from
        each view's own size); the result has one size."""
        K = self.K.clone()
        for i, (w, h) in enumerate(self.sizes.tolist()):
            K[i, 0] *= width / w
            K[i, 1] *= height / h
        return Cameras(K, self.world_to_cam.clone(), width, height, list(self.names),
                       self.az.clone(), self.el.clone())

    def cropped(self, boxes: Sequence[Sequence[float]], width: int, height: int) -> "Cameras":
        """The same cameras, view i cut to its box (x0, y0, box_w, box_h) in its pixels and
        scaled to width x height: pixel u of the old view -> (u - x0) width / box_w (pixel
        centres at + 0.5 either way). The matching images: `models.inputs.crop_box`."""
        assert len(boxes) == len(self), (len(boxes), len(self))
        K = self.K.clone().double()
        for i, (x0, y0, bw, bh) in enumerate(boxes):
            crop = torch.tensor([[width / bw, 0, -x0 * width / bw], [0, height / bh, -y0 * height / bh], [0, 0, 1]],
                                dtype=torch.float64)
            K[i] = crop @ K[i]
        return Cameras(K.to(self.K.dtype), self.world_to_cam.clone(), width, height, list(self.names),
                       self.az.clone(), self.el.clone())

    # ---- (de)serialisation: our cameras.json -------------------------------------------
    def to_json(self) -> list[dict]:
        """The `cameras.json` list: one dict per view (name, K, world_to_camera, its own width
        and height, az, el)."""
        views = []
        for i, (w, h) in enumerate(self.sizes.tolist()):
            az, el = float(self.az[i]), float(self.el[i])
            views.append({
                "name": self.names[i],
                "K": self.K[i].tolist(),
                "world_to_camera": self.world_to_cam[i].tolist(),
                "width": w,
                "height": h,
                "az": None if math.isnan(az) else az,
                "el": None if math.isnan(el) else el,
            })
        return views

    @classmethod
    def from_json(cls, views: object, source: str = "cameras") -> "Cameras":
        """Parse the `cameras.json` list format (views may differ in size); raises ConfigError
        naming the bad field."""
        if not isinstance(views, list) or not views:
            raise ConfigError(f"{source}: expected a non-empty JSON list of views; "
                              "see cameras.json in any humanmv output for the format")
        Ks, w2cs, names, azs, els, sizes = [], [], [], [], [], []
        for i, view in enumerate(views):
            where = f"{source}: view {i}"
            if not isinstance(view, dict):
                raise ConfigError(f"{where} is not an object with K, world_to_camera, width, height")
            try:
                K = torch.tensor(view["K"], dtype=torch.float32)
                w2c = torch.tensor(view["world_to_camera"], dtype=torch.float32)
                size = (int(view["width"]), int(view["height"]))
            except KeyError as err:
                raise ConfigError(f"{where} lacks the field {err.args[0]!r}") from None
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{where} has a malformed value ({err})") from None
            if K.shape != (3, 3) or w2c.shape != (4, 4):
                raise ConfigError(f"{where}: K must be 3x3 and world_to_camera 4x4")
            if not (torch.isfinite(K).all() and torch.isfinite(w2c).all()):
                raise ConfigError(f"{where}: K and world_to_camera must be finite numbers")
            if K[0, 0] <= 0 or K[1, 1] <= 0:
                raise ConfigError(f"{where}: focal lengths K[0][0], K[1][1] must be positive")
            R = w2c[:3, :3]
            if not torch.allclose(R @ R.T, torch.eye(3), atol=1e-3) or torch.det(R) < 0:
                raise ConfigError(f"{where}: world_to_camera's 3x3 part is not a rotation")
            if not torch.allclose(w2c[3], torch.tensor([0.0, 0.0, 0.0, 1.0]), atol=1e-6):
                raise ConfigError(f"{where}: world_to_camera's last row must be [0, 0, 0, 1]")
            if min(size) < 8 or max(size) > 8192:
                raise ConfigError(f"{where}: width/height must be within 8..8192, got {size}")
            sizes.append(size)
            Ks.append(K)
            w2cs.append(w2c)
            names.append(str(view.get("name", f"{i:03d}")))
            azs.append(float("nan") if view.get("az") is None else float(view["az"]))
            els.append(float("nan") if view.get("el") is None else float(view["el"]))
        return cls.with_sizes(torch.stack(Ks), torch.stack(w2cs), sizes, names,
                              torch.tensor(azs), torch.tensor(els))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "Cameras":
        path = Path(path)
        try:
            views = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: camera file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: not valid JSON ({err}); fix or regenerate the file") from None
        return cls.from_json(views, source=str(path))


# ---- construction helpers ----------------------------------------------------------------
def intrinsics_from_fov(fov_deg: float, width: int, height: int, across: str = "height") -> torch.Tensor:
    """(3, 3) intrinsics, principal point at the centre, for a field of view `fov_deg` across
    the image "height" (vertical FOV) or its "long" side (a photo of unknown orientation)."""
    side = height if across == "height" else max(width, height)
    f = 0.5 * side / math.tan(math.radians(fov_deg) / 2)
    return torch.tensor([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=torch.float32)


def look_at(eye: torch.Tensor, target: torch.Tensor, up: Sequence[float] = WORLD_UP,
            roll_deg: torch.Tensor | float = 0.0) -> torch.Tensor:
    """World-to-camera transforms of cameras at `eye` looking at `target` (OpenCV axes).

    Args:
        eye, target: (C, 3) positions in world space.
        up: world up direction; image y points against it.
        roll_deg: scalar or (C,) rotation of the image about the optical axis (degrees).
    Returns:
        (C, 4, 4) float32 world-to-camera.
    """
    eye, target = eye.float(), target.float()
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    up_t = torch.tensor(up, dtype=torch.float32).expand_as(z)
    # Looking straight along `up` leaves x undefined; fall back to world +Z as the reference.
    parallel = torch.cross(z, up_t, dim=-1).norm(dim=-1) < 1e-6
    up_t = torch.where(parallel[:, None], torch.tensor([0.0, 0.0, 1.0]).expand_as(z), up_t)
    x = torch.nn.functional.normalize(torch.cross(-up_t, z, dim=-1), dim=-1)
    y = torch.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=1)  # rows: camera axes in world coordinates
    roll = torch.as_tensor(roll_deg, dtype=torch.float32).expand(z.shape[0])
    c, s = torch.cos(torch.deg2rad(roll)), torch.sin(torch.deg2rad(roll))
    Rz = torch.zeros(z.shape[0], 3, 3)
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1
    R = Rz @ R
    w2c = torch.eye(4).repeat(z.shape[0], 1, 1)
    w2c[:, :3, :3] = R
    w2c[:, :3, 3] = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return w2c


def orbit_positions(az_deg: torch.Tensor, el_deg: torch.Tensor, distance: float | torch.Tensor,
                    target: Sequence[float] = (0.0, 0.0, 0.0)) -> torch.Tensor:
    """(C, 3) orbit camera positions for (C,) azimuths/elevations in degrees."""
    az, el = torch.deg2rad(az_deg.float()), torch.deg2rad(el_deg.float())
    d = torch.as_tensor(distance, dtype=torch.float32)
    pos = torch.stack([d * torch.sin(az) * torch.cos(el), d * torch.sin(el),
                       d * torch.cos(az) * torch.cos(el)], dim=-1)
    return pos + torch.tensor(target, dtype=torch.float32)


def orbit_cameras(az_deg: Sequence[float] | torch.Tensor, el_deg: Sequence[float] | torch.Tensor | float = 0.0,
                  distance: float = 2.5, fov_deg: float = 40.0, width: int = 512, height: int = 512,
                  target: Sequence[float] = (0.0, 0.0, 0.0), names: list[str] | None = None) -> Cameras:
    """Cameras on an orbit around `target`, one per (az, el) pair (degrees)."""
    az = torch.as_tensor(az_deg, dtype=torch.float32).reshape(-1)
    el = torch.as_tensor(el_deg, dtype=torch.float32).reshape(-1).expand_as(az).clone()
    eye = orbit_positions(az, el, distance, target)
    w2c = look_at(eye, torch.tensor(target, dtype=torch.float32).expand_as(eye))
    K = intrinsics_from_fov(fov_deg, width, height).expand(len(az), 3, 3).clone()
    return Cameras(K, w2c, width, height, names or [], az, el)


VIEW_SET_SIZES = (4, 6, 8, 16, 24, 36)


def ring_azimuths(n: int, start: float = 0.0) -> torch.Tensor:
    """(n,) azimuths in degrees evenly spaced round a full circle: start + 360 * i / n."""
    return start + torch.arange(n, dtype=torch.float32) * (360.0 / n)


def view_set(n: int, el_deg: float = 0.0, **kwargs) -> Cameras:
    """`n` views evenly spaced in azimuth starting at the front (az = 0, 360/n, ...).

    Extra keyword arguments go to `orbit_cameras` (distance, fov_deg, width, height, target).
    """
    if not 1 <= n <= 1000:
        raise ConfigError(f"number of views must be within 1..1000, got {n}")
    return orbit_cameras(ring_azimuths(n), el_deg, **kwargs)


def continuous_sequence(start_az: float, end_az: float, n: int, el_deg: float = 0.0,
                        **kwargs) -> Cameras:
    """`n` views on a continuous arc from `start_az` to `end_az` inclusive (seed 003's
    view-consistency sequences)."""
    if n < 2:
        raise ConfigError(f"a continuous sequence needs at least 2 views, got {n}")
    az = torch.linspace(start_az, end_az, n)
    return orbit_cameras(az, el_deg, **kwargs)


# ---- conversions --------------------------------------------------------------------------
OPENCV_TO_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def to_transforms_json(cameras: Cameras, image_paths: Sequence[str]) -> dict:
    """nerfstudio / instant-ngp `transforms.json`: OpenGL camera-to-world (x right, y up,
    z back) per frame and per-frame intrinsics, with each view's own w/h. The top-level
    "w"/"h" are written only when every view has one size (nerfstudio reads per-frame sizes
    first; a top-level size would be wrong for some frames)."""
    c2w = cameras.cam_to_world @ OPENCV_TO_OPENGL
    sizes = cameras.sizes.tolist()
    frames = []
    for i, path in enumerate(image_paths):
        K = cameras.K[i]
        frames.append({
            "file_path": str(path),
            "transform_matrix": c2w[i].tolist(),
            "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]),
            "cx": float(K[0, 2]), "cy": float(K[1, 2]),
            "w": sizes[i][0], "h": sizes[i][1],
        })
    shared = {} if cameras.mixed_sizes else {"w": cameras.width, "h": cameras.height}
    return {"camera_model": "OPENCV", **shared, "frames": frames}


def framing_distance(radius: float, fov_deg: float, margin: float = 1.1) -> float:
    """Distance at which a sphere of `radius` fills the vertical field of view (times `margin`)."""
    return margin * radius / math.sin(math.radians(fov_deg) / 2)


def focus_centre(points: torch.Tensor) -> torch.Tensor:
    """(3,) the middle of the bounding box of `points` (N, 3): what orbit views aim at."""
    return (points.min(0).values + points.max(0).values) / 2


def azimuths_about(world_to_cam: torch.Tensor, reference_w2c: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """(C,) azimuth in degrees, in [-180, 180), of each camera (world_to_cam (C, 4, 4)) about
    the vertical (world Y) axis through `centre` (3,), measured from the camera
    `reference_w2c` (4, 4) (e.g. the photo's): 0 = where the reference stands, positive the
    way `orbit_cameras` azimuths grow."""
    def angle(m: torch.Tensor) -> torch.Tensor:
        rot, t = m[..., :3, :3], m[..., :3, 3:]
        pos = -(rot.transpose(-1, -2) @ t)[..., 0] - centre.float()
        return torch.atan2(pos[..., 0], pos[..., 2])
    rel = torch.rad2deg(angle(world_to_cam.float()) - angle(reference_w2c.float()))
    return torch.remainder(rel + 180.0, 360.0) - 180.0


def turned_about(cameras: "Cameras", centre: torch.Tensor, degrees: float, name: str = "turned") -> "Cameras":
    """The one camera `cameras` (1 view) turned by `degrees` about the vertical (world Y) axis
    through `centre` (3,): same intrinsics and size, the subject seen from another side."""
    a = math.radians(degrees)
    rot = torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    move = torch.eye(4)
    move[:3, :3] = rot
    move[:3, 3] = centre.float() - rot @ centre.float()     # p -> R (p - c) + c
    w2c = cameras.world_to_cam[:1].float() @ torch.linalg.inv(move)
    return Cameras.with_sizes(cameras.K[:1].clone(), w2c, cameras.sizes[:1], [name])


def orbit_cameras_around(points: torch.Tensor, az_deg: Sequence[float] | torch.Tensor,
                         el_deg: Sequence[float] | torch.Tensor | float = 0.0, fov_deg: float = 40.0,
                         width: int = 512, height: int = 512, margin: float = 1.1,
                         names: list[str] | None = None) -> Cameras:
    """Orbit cameras aimed at the centre of `points` (N, 3), far enough that the points'
    bounding sphere fits in every view: the framing used for body and head view sets."""
    centre = focus_centre(points)
    radius = float((points - centre).norm(dim=-1).max())
    fov = fov_deg if width >= height else math.degrees(
        2 * math.atan(math.tan(math.radians(fov_deg) / 2) * width / height))
    distance = framing_distance(radius, fov, margin)
    return orbit_cameras(az_deg, el_deg, distance, fov_deg, width, height, centre.tolist(), names)


def align_to_fit(targets: Cameras, input_gt: Cameras, input_fit: Cameras, gt_depth: float,
                 fit_depth: float) -> Cameras:
    """Cameras of a ground-truth frame (`targets`, posed relative to the one-view `input_gt`)
    expressed in the frame of a single-photo fit whose photo camera is `input_fit` (1 view).

    A fit knows its subject only up to its own camera: another focal length, distance and
    size. The fitted subject, at median depth `fit_depth` in its photo camera (focal f_f,
    principal point c_f), is carried into the ground-truth input camera (f_g, c_g): moved to
    depth r * fit_depth with r = f_g / f_f (and across by the principal-point offset) so that it
    projects to the same pixels through f_g, then scaled by k = gt_depth / (r * fit_depth) about
    the camera centre so that its depth matches the ground truth's median `gt_depth` (a scale
    about the centre leaves projections unchanged). The targets keep their pose relative to the
    input camera: p_target = R_T R_g^T (k (R_f p + t_f + d) - t_g) + t_T; dividing by k gives a
    rigid world-to-camera with the same projection. Exact for a subject at one depth; a good
    approximation when its depth range is small next to its distance.
    """
    Kf, Kg = input_fit.K[0], input_gt.K[0]
    Rf, tf = input_fit.world_to_cam[0, :3, :3], input_fit.world_to_cam[0, :3, 3]
    Rg, tg = input_gt.world_to_cam[0, :3, :3], input_gt.world_to_cam[0, :3, 3]
    r = float((Kg[0, 0] + Kg[1, 1]) / (Kf[0, 0] + Kf[1, 1]))
    z = r * fit_depth
    shift = torch.tensor([float(Kf[0, 2] - Kg[0, 2]) * z / float(Kg[0, 0]),
                          float(Kf[1, 2] - Kg[1, 2]) * z / float(Kg[1, 1]), z - fit_depth])
    k = gt_depth / z
    w2c = targets.world_to_cam.clone()
    RT, tT = w2c[:, :3, :3].clone(), w2c[:, :3, 3].clone()
    w2c[:, :3, :3] = RT @ Rg.T @ Rf
    w2c[:, :3, 3] = ((RT @ (Rg.T @ (k * (tf + shift) - tg))) + tT) / k
    return Cameras(targets.K.clone(), w2c, targets.width, targets.height, list(targets.names),
                   targets.az.clone(), targets.el.clone(), targets.sizes.clone())
