"""Options of a pipeline stage (a generator, a refine stage, the reconstruct stage) as a typed dataclass.

Every field has a default that works and a help text; the command line (`--opt NAME.KEY=VALUE`),
`bench --method NAME[KEY=VALUE,...]`, the demo page and the library all set options through
`build_options`, which checks names, types, choices and ranges in one place and raises a
one-line ConfigError naming the option and what it accepts.

    @dataclass
    class MyOptions:
        steps: int = option(20, "denoising steps", minimum=1)
        scheduler: str = option("ddim", "sampler", choices=("ddim", "dpm"))
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from humanmv.errors import ConfigError

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None) -> Any:
    """A dataclass field with a default, its help text and the values it accepts."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum}
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class NoOptions:
    """A stage without options."""


@dataclass(frozen=True)
class OptionInfo:
    """One option as the CLI, the bench and the demo page show it."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None


def describe_options(cls: type) -> list[OptionInfo]:
    """The options of an options dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        out.append(OptionInfo(f.name, _type_name(hints[f.name]), f.default, m.get("help", ""), m.get("choices"),
                              m.get("minimum"), m.get("maximum")))
    return out


def build_options(cls: type, values: dict[str, Any] | None, namespace: str) -> Any:
    """An instance of `cls` with `values` (key -> value or its text) over the defaults.

    namespace: how the user addresses these options ("mvdiff", "reconstruct"); messages say
    e.g. "--opt mvdiff.steps". Raises ConfigError for an unknown key, a value of the wrong type,
    outside its choices or its range.
    """
    values = dict(values or {})
    infos = {i.name: i for i in describe_options(cls)}
    unknown = sorted(set(values) - set(infos))
    if unknown:
        known = ", ".join(infos) or "none"
        raise ConfigError(f"unknown option {namespace}.{unknown[0]}; options of {namespace}: {known}")
    hints = typing.get_type_hints(cls)
    parsed = {k: _parse(hints[k], v, f"{namespace}.{k}") for k, v in values.items()}
    for key, value in parsed.items():
        _check_range(infos[key], value, f"{namespace}.{key}")
    return cls(**parsed)


def options_to_dict(options: Any) -> dict[str, Any]:
    """JSON-ready {name: value} of an options instance (paths as strings)."""
    return {f.name: _jsonable(getattr(options, f.name)) for f in dataclasses.fields(options)}


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    """"KEY=VALUE" -> (KEY, VALUE); ConfigError naming `what` (e.g. "--opt") otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{what} {text!r} must look like KEY=VALUE")
    return key.strip(), value.strip()


# -- helpers --------------------------------------------------------------------------------------
def _base_type(hint: Any) -> Any:
    """`int | None` -> (int, True); plain types -> (type, False)."""
    args = typing.get_args(hint)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def _type_name(hint: Any) -> str:
    base, optional = _base_type(hint)
    name = getattr(base, "__name__", str(base))
    return f"{name} or none" if optional else name


def _parse(hint: Any, value: Any, where: str) -> Any:
    base, optional = _base_type(hint)
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in ("none", "null", ""):
            return None
        try:
            if base is bool:
                if text.lower() in _TRUE:
                    return True
                if text.lower() in _FALSE:
                    return False
                raise ValueError(text)
            if base is int:
                return int(text)
            if base is float:
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError(text)
                return number
            if base is Path:
                return Path(text).expanduser()
            return text
        except ValueError:
            raise ConfigError(f"{where}={value!r} is not a valid {_type_name(hint)}") from None
    if value is None and optional:
        return None
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is Path and isinstance(value, str):
        return Path(value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise ConfigError(f"{where}={value!r} is not a valid {_type_name(hint)}")
    return value


def _check_range(info: OptionInfo, value: Any, where: str) -> None:
    if value is None:
        return
    if info.choices is not None and value not in info.choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(str, info.choices))}, got {value!r}")
    if info.minimum is not None and value < info.minimum:
        raise ConfigError(f"{where} must be >= {info.minimum}, got {value}")
    if info.maximum is not None and value > info.maximum:
        raise ConfigError(f"{where} must be <= {info.maximum}, got {value}")


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
