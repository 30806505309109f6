"""`GeneratorChoice`: which generator runs, with which options, weights, refine stages and
reconstruction — parsed from the command line or a bench method string, checked against the
registry before any work.

    GeneratorChoice.parse("mvdiff[steps=10,reconstruct=none]")       # bench --method
    GeneratorChoice.from_flags("mvdiff", ["mvdiff.steps=10", "reconstruct.photo_trust=4"],
                               checkpoint=None, reconstruct="refit", refine=None)   # generate
    GeneratorChoice.make("mvdiff", {"steps": 10, "reconstruct.photo_trust": 4})      # library

Keys inside NAME[...] and in `make`'s dict address the generator's own options; `reconstruct`,
`refine` and `checkpoint` choose those; `reconstruct.KEY` and `STAGE.KEY` (a refine stage)
address the other stages' options. On the command line every option is namespaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humanmv.errors import CheckpointError, ConfigError
from humanmv.options import build_options, options_to_dict, parse_assignment
from humanmv.generators.registry import GeneratorSpec, RefinerSpec, generator_spec, refiner_spec


@dataclass
class GeneratorChoice:
    """A fully checked choice. `options`: the generator's options instance; `reconstruct`: a
    `recon.reconstruct.RECONSTRUCT_MODES` name; `reconstruct_options`: recon.ReconstructOptions; `refine`: refine
    stage names in order, with `refine_options` by name; `checkpoint`: the weights folder the
    user gave (None: the spec's default); `label`: how reports name this choice."""

    spec: GeneratorSpec
    options: Any
    reconstruct: str
    reconstruct_options: Any
    refine: tuple[str, ...] = ()
    refine_options: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def weights(self) -> Path | None:
        """The weights folder the generator loads: the user's, else the spec's default."""
        return self.checkpoint if self.checkpoint is not None else self.spec.default_checkpoint

    def key(self) -> tuple:
        """Identifies the loaded generator (and refiners) this choice needs, for caching."""
        return (self.name, repr(self.options), str(self.weights),
                tuple((n, repr(self.refine_options[n])) for n in self.refine))

    def to_json(self) -> dict:
        """What run.json and results.json record about the choice."""
        return {"generator": self.name, "options": options_to_dict(self.options),
                "checkpoint": None if self.weights is None else str(self.weights),
                "refine": list(self.refine),
                "refine_options": {n: options_to_dict(self.refine_options[n]) for n in self.refine},
                "reconstruct": self.reconstruct, "reconstruct_options": options_to_dict(self.reconstruct_options)}

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def make(cls, name: str, options: dict[str, Any] | None = None, checkpoint: str | Path | None = None,
             reconstruct: str | None = None, refine: str | list[str] | tuple[str, ...] | None = None,
             label: str | None = None) -> "GeneratorChoice":
        """From plain values (the library's way). `options` keys: the generator's own option
        names, or STAGE.KEY for the reconstruct stage and refine stages; also `reconstruct`,
        `refine` and `checkpoint` (the same as the keyword arguments)."""
        spec = generator_spec(name)
        own: dict[str, Any] = {}
        staged: dict[str, dict[str, Any]] = {}
        for key, value in (options or {}).items():
            if key in ("reconstruct", "refine", "checkpoint"):
                reconstruct, refine, checkpoint = _special(key, value, reconstruct, refine, checkpoint)
            elif "." in key:
                stage, _, sub = key.partition(".")
                if stage == spec.name:
                    own[sub] = value
                else:
                    staged.setdefault(stage, {})[sub] = value
            else:
                own[key] = value
        return cls._build(spec, own, staged, checkpoint, reconstruct, refine, label)

    @classmethod
    def from_flags(cls, name: str, opts: list[str] | None = None, checkpoint: Path | None = None,
                   reconstruct: str | None = None, refine: str | None = None,
                   without: tuple[str, ...] = ()) -> "GeneratorChoice":
        """From `generate`'s flags: --generator NAME, --opt STAGE.KEY=VALUE (repeatable),
        --checkpoint, --reconstruct, --refine (comma-separated stage names, or "none");
        `without`: refine stages taken out of the run whatever --refine says (--no-face-stage)."""
        spec = generator_spec(name)
        own: dict[str, Any] = {}
        staged: dict[str, dict[str, Any]] = {}
        for text in opts or []:
            key, value = parse_assignment(text, "--opt")
            stage, dot, sub = key.partition(".")
            if not dot or not sub:
                raise ConfigError(f"--opt {text!r} must name its stage: --opt {spec.name}.{key}=VALUE "
                                  "(see `humanmv generators`)")
            if stage == spec.name:
                own[sub] = value
            else:
                staged.setdefault(stage, {})[sub] = value
        if without:
            refine = tuple(n for n in (spec.refine if refine is None else _refine_names(refine)) if n not in without)
            for name in without:
                if name in staged:
                    raise ConfigError(f"options for refine stage {name} (--opt {name}.…) conflict with turning it off")
        return cls._build(spec, own, staged, checkpoint, reconstruct, refine, None)

    @classmethod
    def parse(cls, text: str) -> "GeneratorChoice":
        """A bench method string: NAME or NAME[KEY=VALUE,...] (see the module docstring)."""
        name, options = text.strip(), {}
        if "[" in name:
            if not name.endswith("]"):
                raise ConfigError(f"--method {text!r}: write NAME[KEY=VALUE,...] with a closing ']'")
            name, _, inner = name[:-1].partition("[")
            for part in filter(None, (p.strip() for p in inner.split(","))):
                key, value = parse_assignment(part, f"--method {name}[...]")
                options[key] = value
        return cls.make(name.strip(), options, label=text.strip())

    @classmethod
    def _build(cls, spec: GeneratorSpec, own: dict, staged: dict, checkpoint, reconstruct, refine,
               label: str | None) -> "GeneratorChoice":
        from humanmv.recon.reconstruct import ReconstructOptions, check_reconstruct_mode

        options = build_options(spec.options, own, spec.name)
        mode = check_reconstruct_mode(spec.reconstruct if reconstruct is None else str(reconstruct).strip())
        recon_options = build_options(ReconstructOptions, staged.pop("reconstruct", {}), "reconstruct")
        stages = spec.refine if refine is None else _refine_names(refine)
        specs: dict[str, RefinerSpec] = {n: refiner_spec(n) for n in stages}
        for stage in staged:
            if stage not in specs:
                raise ConfigError(_foreign_stage_message(stage, spec, stages))
        refine_options = {n: build_options(s.options, staged.get(n, {}), n) for n, s in specs.items()}
        if checkpoint is not None:
            checkpoint = _check_checkpoint(spec, Path(checkpoint))
        return cls(spec, options, mode, recon_options, tuple(stages), refine_options, checkpoint,
                   label or spec.name)


def _special(key: str, value, reconstruct, refine, checkpoint):
    if key == "reconstruct":
        return value, refine, checkpoint
    if key == "refine":
        return reconstruct, value, checkpoint
    return reconstruct, refine, value


def _refine_names(refine) -> tuple[str, ...]:
    if isinstance(refine, str):
        if refine.strip().lower() in ("", "none"):
            return ()
        return tuple(p.strip() for p in refine.replace("+", ",").split(",") if p.strip())
    return tuple(refine)


def _check_checkpoint(spec: GeneratorSpec, folder: Path) -> Path:
    if spec.default_checkpoint is None:
        raise ConfigError(f"--generator {spec.name} takes no checkpoint; drop --checkpoint or choose a "
                          "generator with weights (see `humanmv generators`)")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found; pass a folder written by "
                              f"`humanmv train {spec.name}` (its final/)")
    return folder


def _foreign_stage_message(stage: str, spec: GeneratorSpec, stages) -> str:
    from humanmv.generators.registry import available_generators, available_refiners

    if stage in available_generators():
        return f"options for {stage} (--opt {stage}.…) need --generator {stage}; this run uses {spec.name}"
    if stage in available_refiners():
        return f"options for refine stage {stage} need it in the run (--refine {stage}); this run refines with " \
               f"{', '.join(stages) or 'none'}"
    return f"unknown stage {stage!r} in an option; stages: {spec.name}, reconstruct" + \
        "".join(f", {s}" for s in stages)
