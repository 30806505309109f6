"""The one registry of view generators and refine stages.

Each generator module declares a `GeneratorSpec` once and registers it with one call:

    register_generator(GeneratorSpec(
        name="mvdiff", factory=MVDiffGenerator, options=MVDiffOptions, modes=("body",),
        summary="multi-view diffusion (seed 000)", default_checkpoint=WEIGHTS / "mvdiff-small",
        reconstruct="refit", stochastic=True, quick_options={"steps": 2}))

`humanmv generate` (its --generator, --opt, --checkpoint, --reconstruct and --refine flags),
`humanmv generators`, `humanmv bench --method NAME[KEY=VALUE,...]`, the `Studio` facade and the
demo page all read this registry; nothing else names a generator. Refine stages (run on a
generator's views before reconstruction, e.g. a face stage) register the same way with a
`RefinerSpec`. Options of different stages never collide: each stage's options live under its
own name (`--opt mvdiff.steps=10`, `--opt reconstruct.photo_trust=4`).

The built-in generators are imported on first use of the registry (`BUILTIN_MODULES`).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from humanmv.errors import ConfigError
from humanmv.options import NoOptions

BUILTIN_MODULES = ("humanmv.generators.prior", "humanmv.generators.mvdiff", "humanmv.generators.gan3d",
                   "humanmv.generators.face_stage", "humanmv.generators.head360")
RESERVED_NAMESPACES = ("reconstruct",)
MODES = ("body", "head")
_PLURAL = {"body": "bodies", "head": "heads"}


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything the rest of humanmv knows about a generator.

    name: what users type (`--generator NAME`), also its options' namespace.
    factory: `factory(context: GeneratorContext, options, checkpoint: Path | None) -> Generator`.
    options: a dataclass of its options (fields made with `generators.options.option`).
    modes: the subjects it accepts ("body", "head").
    default_checkpoint: the weights folder used when the user gives none; None when the
        generator takes no weights (then --checkpoint is refused).
    reconstruct: the reconstruct stage that follows it by default ("none", "texture", "refit").
    refine: the refine stages (RefinerSpec names) that run on its views by default.
    stochastic: its views depend on the seed (the contract test checks both ways).
    quick_options: settings for a fast run (tests, previews); any values must satisfy the contract.
    """

    name: str
    factory: Callable[..., Any]
    options: type = NoOptions
    modes: tuple[str, ...] = MODES
    summary: str = ""
    default_checkpoint: Path | None = None
    reconstruct: str = "none"
    refine: tuple[str, ...] = ()
    stochastic: bool = False
    quick_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefinerSpec:
    """A refine stage: `factory(context, options, checkpoint) -> Refiner`, which maps a
    generator's Views to refined Views of the same cameras. Fields as in GeneratorSpec."""

    name: str
    factory: Callable[..., Any]
    options: type = NoOptions
    modes: tuple[str, ...] = MODES
    summary: str = ""
    default_checkpoint: Path | None = None


_lock = threading.Lock()
_generators: dict[str, GeneratorSpec] = {}
_refiners: dict[str, RefinerSpec] = {}
_builtins = "unloaded"  # -> "loading" (the built-ins' own registrations pass) -> "loaded"
_builtins_lock = threading.RLock()


def _check_name(name: str, kind: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"{kind} name {name!r} must be letters, digits, '-' or '_'")
    if name in RESERVED_NAMESPACES:
        raise ValueError(f"{kind} name {name!r} is reserved for a pipeline stage's options")


def register_generator(spec: GeneratorSpec) -> GeneratorSpec:
    """Make `spec.name` a generator everywhere (a later call with the same name replaces it)."""
    _load_builtins()  # built-ins first, whoever registers first
    _check_name(spec.name, "generator")
    bad = set(spec.modes) - set(MODES)
    if bad or not spec.modes:
        raise ValueError(f"generator {spec.name!r}: modes must be among {MODES}, got {spec.modes}")
    with _lock:
        if spec.name in _refiners:
            raise ValueError(f"{spec.name!r} is already a refine stage; options would collide")
        _generators[spec.name] = spec
    return spec


def register_refiner(spec: RefinerSpec) -> RefinerSpec:
    """Make `spec.name` a refine stage (a later call with the same name replaces it)."""
    _load_builtins()
    _check_name(spec.name, "refine stage")
    with _lock:
        if spec.name in _generators:
            raise ValueError(f"{spec.name!r} is already a generator; options would collide")
        _refiners[spec.name] = spec
    return spec


def _load_builtins() -> None:
    global _builtins
    if _builtins == "loaded":
        return
    with _builtins_lock:  # other threads wait here until the built-ins are all registered
        if _builtins != "unloaded":
            return
        _builtins = "loading"
        try:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)  # each module registers its spec on import
        except BaseException:
            _builtins = "unloaded"
            raise
        _builtins = "loaded"


def available_generators(mode: str | None = None) -> list[str]:
    """Registered generator names (those accepting `mode` when given), built-ins first."""
    _load_builtins()
    return [n for n, s in _generators.items() if mode is None or mode in s.modes]


def available_refiners() -> list[str]:
    _load_builtins()
    return list(_refiners)


def generator_spec(name: str) -> GeneratorSpec:
    """The spec called `name`; ConfigError naming the choices otherwise."""
    _load_builtins()
    if name not in _generators:
        raise ConfigError(f"unknown --generator {name!r}; available: {', '.join(available_generators())}")
    return _generators[name]


def refiner_spec(name: str) -> RefinerSpec:
    _load_builtins()
    if name not in _refiners:
        known = ", ".join(available_refiners()) or "none registered"
        raise ConfigError(f"unknown refine stage {name!r}; available: {known}")
    return _refiners[name]


def fit_mode_for(spec: GeneratorSpec, mode: str) -> str:
    """The fit mode a generation with `spec` uses when asked for `mode`: "auto" becomes "head"
    for a head-only generator (a portrait's shoulders must not make it a body fit)."""
    return "head" if mode == "auto" and spec.modes == ("head",) else mode


def check_mode(spec: GeneratorSpec, mode: str) -> None:
    """ConfigError when `spec` does not make `mode` subjects, naming the generators that do."""
    if mode not in spec.modes:
        others = ", ".join(available_generators(mode)) or "none"
        made = " and ".join(_PLURAL[m] for m in spec.modes)
        raise ConfigError(f"--generator {spec.name} makes {made}, not {_PLURAL[mode]} (--mode {mode}); "
                          f"generators for {_PLURAL[mode]}: {others}; for {spec.name} pass --mode {spec.modes[0]}")
