"""Motions in Anny's pose space: the built-in clips ("idle", "walk", "wave"), the photo's pose, the
motion JSON files of `humanmv animate --motion FILE`, and `motion_to_clip`, which turns any of
them into a rig's glTF clip.

A `Motion` holds, per frame, one rotation per named bone in Anny's "local-ref" parameterisation,
about *world-aligned* axes (x: the subject's left, y: up, z: forward, the axes of the bind pose,
which is Anny's pose zero), applied at the bone's head on top of its parents' rotations (a
child follows its parent); bones left out stay as in pose zero. "root" turns the whole body
about the root joint (between the hips), and `root_translation` moves it (metres, world axes).
Avatar.params.pose uses the same parameterisation in Anny's own axes (x left, y back, z up):
r_world = (x, z, -y).

Motion file (JSON, UTF-8), e.g. a two-frame nod:

    {"format": "humanmv.motion", "version": 1,
     "name": "nod",                                optional; default: the file's name
     "fps": 24,                                    frames per second, > 0
     "rotation": "axis_angle",                     or "quaternion": [x, y, z, w] (glTF's order)
     "axes": "world",                              optional; or "anny" (Anny's x left, y back, z up)
     "loop": true,                                 optional; the clip repeats (default true)
     "frames": [                                   >= 1 frames, one object each
       {"bones": {"head": [0.3, 0, 0]}},           rotations by Anny bone name (radians)
       {"bones": {"head": [0, 0, 0]}, "root_translation": [0, 0.01, 0]}
     ]}

Axis-angle vectors are radians (direction = axis, length = angle, right-handed): about world
x, a positive angle swings a hanging leg backwards; about z (forward), a positive angle lowers
the right arm (at -x) and raises the left one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from humanmv.body.anny_model import ANNY_TO_WORLD
from humanmv.errors import ConfigError
from humanmv.rig.rotations import continuous_quaternions, matrix_to_quaternion, quaternion_to_matrix

FORMAT, VERSION = "humanmv.motion", 1
BUILTIN_MOTIONS = ("idle", "walk", "wave")
DEFAULT_FPS = 24.0


@dataclass
class Motion:
    """Frames of bone rotations (module docstring): rotations (T, B, 3, 3) float64 for `bones`
    (B names), root_translation (T, 3) float64 metres; fps frames per second; loop: the frames
    repeat (frame T would be frame 0 again)."""

    name: str
    fps: float
    bones: list[str]
    rotations: torch.Tensor
    root_translation: torch.Tensor
    loop: bool = True

    @property
    def frames(self) -> int:
        return int(self.rotations.shape[0])


def _axis_angle(rotvec: torch.Tensor) -> torch.Tensor:
    from humanmv.body.anny_model import axis_angle_to_matrix

    return axis_angle_to_matrix(rotvec.double())


def _motion(name: str, fps: float, bones: dict[str, torch.Tensor], root: torch.Tensor,
            loop: bool = True) -> Motion:
    names = list(bones)
    rotvecs = torch.stack([bones[b].double() for b in names], dim=1)  # (T, B, 3)
    return Motion(name, fps, names, _axis_angle(rotvecs), root.double(), loop)


# ---- built-in clips, as functions of the phase over one period --------------------------------
def _vec(x=0.0, y=0.0, z=0.0) -> torch.Tensor:
    """(T, 3) from per-axis (T,) tensors or constants."""
    parts = [torch.as_tensor(c, dtype=torch.float64) for c in (x, y, z)]
    T = max(p.numel() for p in parts)
    return torch.stack([p.expand(T) if p.numel() == 1 else p for p in parts], -1)


def _walk(phase: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """A walk in place, one stride per period: legs swing +-0.45 rad at the hip (left forward
    when sin > 0), the knee bends most in mid swing, arms swing against the legs, the pelvis dips
    at double support and the shoulders counter-rotate the hips."""
    s, c = torch.sin(phase), torch.cos(phase)
    zero = torch.zeros_like(phase)
    swing_l, swing_r = c.clamp_min(0), (-c).clamp_min(0)  # in swing: the leg moves forward
    bones = {
        "root": _vec(zero, 0.06 * s, zero),
        "spine03": _vec(-0.04, -0.10 * s, zero),
        "neck01": _vec(0.02, 0.04 * s, zero),
        "upperleg01.L": _vec(-0.45 * s - 0.05, zero, -0.03),
        "upperleg01.R": _vec(0.45 * s - 0.05, zero, 0.03),
        "lowerleg01.L": _vec(0.08 + 0.85 * swing_l ** 2, zero, zero),
        "lowerleg01.R": _vec(0.08 + 0.85 * swing_r ** 2, zero, zero),
        "foot.L": _vec(-0.25 * swing_l + 0.1 * s.clamp_max(0), zero, zero),
        "foot.R": _vec(-0.25 * swing_r - 0.1 * s.clamp_min(0), zero, zero),
        "upperarm01.L": _vec(0.40 * s, zero, -0.75),
        "upperarm01.R": _vec(-0.40 * s, zero, 0.75),
        "lowerarm01.L": _vec(-0.25 - 0.15 * s.clamp_max(0).abs(), zero, zero),
        "lowerarm01.R": _vec(-0.25 - 0.15 * s.clamp_min(0), zero, zero),
    }
    root = _vec(zero, -0.035 * s ** 2, zero)
    return bones, root


def _idle(phase: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Standing at ease: arms down, slow breathing, a small weight shift from foot to foot and
    the head looking a little left and right."""
    s, s2 = torch.sin(phase), torch.sin(2 * phase)
    zero = torch.zeros_like(phase)
    bones = {
        "root": _vec(zero, zero, 0.025 * s),
        "upperleg01.L": _vec(zero, zero, -0.025 * s),
        "upperleg01.R": _vec(zero, zero, -0.025 * s),
        "spine03": _vec(-0.025 * s2 - 0.02, zero, -0.02 * s),
        "spine01": _vec(-0.015 * s2, zero, zero),
        "neck01": _vec(0.03, 0.12 * s, zero),
        "head": _vec(0.04 * s2, 0.05 * s, zero),
        "upperarm01.L": _vec(0.03 * s2, zero, -0.6 + 0.03 * s),
        "upperarm01.R": _vec(-0.03 * s2, zero, 0.6 + 0.03 * s),
        "lowerarm01.L": _vec(-0.15, zero, zero),
        "lowerarm01.R": _vec(-0.15, zero, zero),
    }
    root = _vec(0.012 * s, zero, zero)
    return bones, root


def _wave(phase: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """The right hand waves above the shoulder (the upper arm raised out to the side, the
    forearm upright, swinging +-0.4 rad twice per period); the left arm hangs; legs, hips and
    head stay still."""
    s2 = torch.sin(2 * phase)
    zero = torch.zeros_like(phase)
    bones = {
        "upperarm01.R": _vec(-0.25, zero, -1.25 + 0.05 * s2),
        "lowerarm01.R": _vec(zero, zero, -1.15 + 0.40 * s2),
        "wrist.R": _vec(zero, zero, 0.15 * s2),
        "upperarm01.L": _vec(zero, zero, -0.6),
        "lowerarm01.L": _vec(-0.15, zero, zero),
        "spine03": _vec(zero, zero, 0.04),
    }
    return bones, _vec(zero, zero, zero)


_BUILTIN = {"idle": (_idle, 4.0), "walk": (_walk, 1.1), "wave": (_wave, 2.0)}


def builtin_motion(name: str, fps: float = DEFAULT_FPS) -> Motion:
    """One built-in motion ("idle", "walk", "wave"): one period (a whole number of frames, so
    the keys fall on frames at `fps`), looping."""
    if name not in _BUILTIN:
        raise ConfigError(f"unknown motion {name!r}; choose {', '.join(BUILTIN_MOTIONS)} or give a motion JSON file")
    fn, period = _BUILTIN[name]
    frames = max(2, round(period * fps))
    phase = 2 * math.pi * torch.arange(frames, dtype=torch.float64) / frames
    bones, root = fn(phase)
    return _motion(name, fps, bones, root)  # the period becomes frames / fps


def builtin_motions(fps: float = DEFAULT_FPS) -> list[Motion]:
    return [builtin_motion(name, fps) for name in BUILTIN_MOTIONS]


def photo_motion(pose: torch.Tensor, bones: Sequence[str], rotation: torch.Tensor,
                 centre: torch.Tensor, translation: torch.Tensor, root_head: torch.Tensor) -> Motion:
    """The photo's pose as a one-frame motion: `pose` (B, 3) Anny axis-angle (Anny's axes) for
    `bones`, and the avatar's rigid placement v = rotation (v - centre) + centre + translation
    as the root's turn and move (root_head (3,): the root joint's bind position)."""
    to_world = ANNY_TO_WORLD.double()  # an axis-angle vector turns with the frame
    rotvecs = pose.double() @ to_world.T
    R = rotation.double()
    rotations = torch.cat([R[None], _axis_angle(rotvecs)], dim=0)[None]
    c, h = centre.double(), root_head.double()
    move = c + translation.double() - R @ c - h + R @ h  # the root's displacement
    return Motion("photo", DEFAULT_FPS, ["root", *bones], rotations, move[None], loop=False)


def motion_to_clip(rig, motion: Motion, morph: float = 0.0):
    """The rig's `Clip` playing `motion`: node-local rotations Rw_p^T D Rw_c (Rw: the joints'
    bind world rotations) with the bind translations; the root at [D | h + t] of its bind
    transform. A looping motion gets a closing key equal to its first."""
    from humanmv.rig.skeleton import Clip

    index = {name: j for j, name in enumerate(rig.joint_names)}
    missing = [b for b in motion.bones if b not in index]
    if missing:
        raise ValueError(f"motion {motion.name!r} moves bones the rig lacks: {missing[:3]}")
    T, J = motion.frames, len(rig.joint_names)
    D = torch.eye(3, dtype=torch.float64).repeat(T, J, 1, 1)
    D[:, [index[b] for b in motion.bones]] = motion.rotations.double()
    world = rig.bind_world
    Rw = world[:, :3, :3]
    parents = torch.tensor([max(p, 0) for p in rig.parents])
    rotation = Rw[parents].transpose(-1, -2) @ D @ Rw  # (T, J, 3, 3)
    translation = rig.bind_local[:, :3, 3].expand(T, J, 3).clone()
    for j, p in enumerate(rig.parents):
        if p < 0:
            rotation[:, j] = D[:, j] @ Rw[j]
            translation[:, j] = world[j, :3, 3] + motion.root_translation.double()
    quats = matrix_to_quaternion(rotation)
    if motion.loop:
        quats = torch.cat([quats, quats[:1]])
        translation = torch.cat([translation, translation[:1]])
    quats = continuous_quaternions(quats)
    keys = quats.shape[0]
    times = torch.arange(keys, dtype=torch.float64) / motion.fps
    # float32, as the file stores them: the rig holds exactly what a reader gets back.
    return Clip(motion.name, times.float().double(), quats.float(), translation.float(),
                torch.full((keys,), float(morph), dtype=torch.float32), loop=motion.loop)


# ---- motion files -----------------------------------------------------------------------------
def load_motion(path: str | Path, bones: Sequence[str]) -> Motion:
    """A motion JSON file (module docstring) for a rig with joints `bones`; a one-line
    ConfigError naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: motion file not found; give walk, wave, idle or a motion JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable JSON motion file ({str(err).splitlines()[0]})") from None

    def fail(what: str) -> None:
        raise ConfigError(f"{path}: {what} (see the motion file format in the README)")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        fail(f'not a humanmv motion file (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        fail(f"version must be {VERSION}, got {data.get('version')!r}")
    unknown = set(data) - {"format", "version", "name", "fps", "rotation", "axes", "loop", "frames"}
    if unknown:
        fail(f"unknown key {sorted(unknown)[0]!r}")
    fps = data.get("fps")
    if not _number(fps) or not 0 < fps <= 1000:
        fail(f"fps must be a number in (0, 1000], got {fps!r}")
    kind = data.get("rotation", "axis_angle")
    if kind not in ("axis_angle", "quaternion"):
        fail(f'rotation must be "axis_angle" or "quaternion", got {kind!r}')
    axes = data.get("axes", "world")
    if axes not in ("world", "anny"):
        fail(f'axes must be "world" or "anny", got {axes!r}')
    loop = data.get("loop", True)
    if not isinstance(loop, bool):
        fail(f"loop must be true or false, got {loop!r}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        fail("name must be a non-empty string")
    frames = data.get("frames")
    if not isinstance(frames, list) or not 1 <= len(frames) <= 100_000:
        fail("frames must be a list of 1 to 100000 frame objects")
    known = set(bones)
    width = 3 if kind == "axis_angle" else 4
    used: list[str] = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or set(frame) - {"bones", "root_translation"}:
            fail(f'frame {i}: must be an object with "bones" and optionally "root_translation"')
        rots = frame.get("bones", {})
        if not isinstance(rots, dict):
            fail(f'frame {i}: "bones" must be an object of bone name -> rotation')
        for bone, value in rots.items():
            if bone not in known:
                fail(f"frame {i}: {bone!r} is not a bone of the rig (Anny bone names, e.g. upperarm01.R, head)")
            if not _numbers(value, width) or (width == 4 and math.hypot(*value) < 1e-6):
                fail(f"frame {i}: bone {bone!r} needs {width} finite numbers"
                     + (" (a non-zero quaternion x, y, z, w)" if width == 4 else " (an axis-angle vector, radians)"))
            if bone not in used:
                used.append(bone)
        move = frame.get("root_translation", [0.0, 0.0, 0.0])
        if not _numbers(move, 3):
            fail(f"frame {i}: root_translation must be 3 finite numbers (metres)")
    identity = [0.0, 0.0, 0.0] if width == 3 else [0.0, 0.0, 0.0, 1.0]
    values = torch.tensor([[f.get("bones", {}).get(b, identity) for b in used] for f in frames],
                          dtype=torch.float64).reshape(len(frames), len(used), width)
    root = torch.tensor([f.get("root_translation", [0.0, 0.0, 0.0]) for f in frames], dtype=torch.float64)
    to_world = ANNY_TO_WORLD.double()
    if kind == "axis_angle":
        if axes == "anny":
            values = values @ to_world.T
        rotations = _axis_angle(values)
    else:
        rotations = quaternion_to_matrix(values)
        if axes == "anny":
            rotations = to_world @ rotations @ to_world.T
    if axes == "anny":
        root = root @ to_world.T
    return Motion(name, float(fps), used, rotations, root, loop)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _numbers(x, n: int) -> bool:
    return isinstance(x, list) and len(x) == n and all(_number(v) for v in x)
