"""Body poses from a JSON file: what `humanmv sample gan3d --pose FILE.json` reads.

The file holds one body or a list of them, each in `BodyParams.to_dict` form (the "body" of a
dataset's meta.json, the bodies of fit.json and avatar.json are the same):

    {"pose_axis_angle": {"upperarm01.L": [0.0, 0.9, 0.0], ...},   # radians, Anny's POSE_BONES
     "phenotype": {"height": 0.6, ...},                            # optional, each in [0, 1]
     "expression": {...}}                                          # optional

Bones and phenotype values left out are 0 (rest) and 0.5. A {"body": {...}} wrapper (meta.json)
is unwrapped. Every problem is a one-line ConfigError naming the file, the body and the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from humanmv.body.anny_model import PHENOTYPE_NAMES, POSE_BONES, BodyParams
from humanmv.errors import ConfigError

MAX_BODIES = 1000


def _numbers(value, count: int) -> list[float] | None:
    """value as `count` finite floats, or None."""
    if not isinstance(value, list) or len(value) != count:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    return [float(v) for v in value]


def parse_body(data, expression_names: list[str], where: str = "body") -> tuple[BodyParams, bool]:
    """One body dict -> (BodyParams with batch 1, whether it gave a phenotype); ConfigError naming
    `where` and the field on unknown bones, non-finite or out-of-range values."""
    if isinstance(data, dict) and "body" in data and "pose_axis_angle" not in data:
        data = data["body"]
    if not isinstance(data, dict) or not isinstance(data.get("pose_axis_angle"), dict):
        raise ConfigError(f"{where}: expected an object with a \"pose_axis_angle\" object of bone -> [x, y, z] "
                          "radians (BodyParams.to_dict, as in a dataset's meta.json)")
    pose = torch.zeros(len(POSE_BONES), 3)
    for bone, value in data["pose_axis_angle"].items():
        if bone not in POSE_BONES:
            raise ConfigError(f"{where}: unknown bone {bone!r}; Anny's posed bones are {', '.join(POSE_BONES)}")
        numbers = _numbers(value, 3)
        if numbers is None:
            raise ConfigError(f"{where}: bone {bone!r} must be 3 finite numbers (axis-angle radians), got {value!r}")
        pose[POSE_BONES.index(bone)] = torch.tensor(numbers)
    phenotype = torch.full((len(PHENOTYPE_NAMES),), 0.5)
    given = data.get("phenotype")
    if given is not None:
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: \"phenotype\" must be an object of name -> value in [0, 1]")
        for name, value in given.items():
            if name not in PHENOTYPE_NAMES:
                raise ConfigError(f"{where}: unknown phenotype {name!r}; choose from {', '.join(PHENOTYPE_NAMES)}")
            numbers = _numbers([value], 1)
            if numbers is None or not 0 <= numbers[0] <= 1:
                raise ConfigError(f"{where}: phenotype {name!r} must be a number in [0, 1], got {value!r}")
            phenotype[PHENOTYPE_NAMES.index(name)] = numbers[0]
    expression = torch.zeros(len(expression_names))
    for name, value in (data.get("expression") or {}).items():
        numbers = _numbers([value], 1)
        if name not in expression_names or numbers is None:
            raise ConfigError(f"{where}: bad expression {name!r}: {value!r} (known names as in Anny's facial actions, "
                              "finite values)")
        expression[expression_names.index(name)] = numbers[0]
    return BodyParams(pose[None], phenotype[None], expression[None]), given is not None


def read_pose_file(path: str | Path, expression_names: list[str]) -> list[tuple[BodyParams, bool]]:
    """The bodies of a pose file (module docstring): [(BodyParams of batch 1, phenotype given)]."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--pose {path}: file not found; pass random, walk or a JSON pose file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--pose {path}: not valid JSON ({exc}); fix the file") from None
    bodies = data if isinstance(data, list) else [data]
    if not bodies or len(bodies) > MAX_BODIES:
        raise ConfigError(f"--pose {path}: expected 1..{MAX_BODIES} bodies, got {len(bodies)}")
    return [parse_body(b, expression_names, f"--pose {path}" + (f" body {i}" if isinstance(data, list) else ""))
            for i, b in enumerate(bodies)]


__all__ = ["read_pose_file", "parse_body"]
