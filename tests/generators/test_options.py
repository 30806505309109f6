"""Stage options: typed dataclasses set from text or values, every mistake one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from humanmv.errors import ConfigError
from humanmv.options import build_options, describe_options, option, options_to_dict, parse_assignment


@dataclass
class Sampler:
    steps: int = option(20, "denoising steps", minimum=1)
    strength: float = option(1.0, "noise strength", minimum=0.0, maximum=1.0)
    scheduler: str = option("ddim", "sampler", choices=("ddim", "dpm"))
    fuse: bool = option(True, "fuse the views")
    weights: Path | None = option(None, "a folder")


def test_text_values_become_typed_values():
    o = build_options(Sampler, {"steps": "7", "strength": "0.25", "scheduler": "dpm", "fuse": "no",
                                "weights": "~/w"}, "toy")
    assert (o.steps, o.strength, o.scheduler, o.fuse) == (7, 0.25, "dpm", False)
    assert o.weights == Path("~/w").expanduser()
    assert build_options(Sampler, {"strength": 1, "weights": "none"}, "toy").strength == 1.0
    assert build_options(Sampler, None, "toy") == Sampler()
    assert options_to_dict(o)["weights"] == str(Path("~/w").expanduser())


@pytest.mark.parametrize("values, message", [
    ({"stepz": "3"}, "unknown option toy.stepz; options of toy: steps, strength, scheduler, fuse, weights"),
    ({"steps": "three"}, "toy.steps='three' is not a valid int"),
    ({"steps": 2.5}, "toy.steps=2.5 is not a valid int"),
    ({"steps": True}, "toy.steps=True is not a valid int"),
    ({"steps": "0"}, "toy.steps must be >= 1, got 0"),
    ({"strength": "1.5"}, "toy.strength must be <= 1.0, got 1.5"),
    ({"strength": "nan"}, "toy.strength='nan' is not a valid float"),
    ({"scheduler": "euler"}, "toy.scheduler must be one of ddim, dpm, got 'euler'"),
    ({"fuse": "maybe"}, "toy.fuse='maybe' is not a valid bool"),
])
def test_every_mistake_is_one_line_naming_the_option(values, message):
    with pytest.raises(ConfigError) as err:
        build_options(Sampler, values, "toy")
    assert str(err.value) == message


def test_descriptions_carry_help_types_and_ranges():
    infos = {i.name: i for i in describe_options(Sampler)}
    assert infos["steps"].type == "int" and infos["steps"].minimum == 1 and infos["steps"].help == "denoising steps"
    assert infos["scheduler"].choices == ("ddim", "dpm") and infos["weights"].type == "Path or none"
    assert parse_assignment(" a.b = 3 ", "--opt") == ("a.b", "3")
    with pytest.raises(ConfigError, match="--opt 'ab' must look like KEY=VALUE"):
        parse_assignment("ab", "--opt")
