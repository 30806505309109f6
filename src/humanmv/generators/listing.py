"""`humanmv generators`: the registry as a user reads it (plain text, derived from the specs)."""

from __future__ import annotations

from humanmv.generators.registry import available_generators, available_refiners, generator_spec, refiner_spec
from humanmv.options import OptionInfo, describe_options


def _option_line(namespace: str, info: OptionInfo) -> str:
    accepts = ""
    if info.choices:
        accepts = f"; one of {', '.join(map(str, info.choices))}"
    elif info.minimum is not None or info.maximum is not None:
        lo = "" if info.minimum is None else f"{info.minimum:g} <= "
        hi = "" if info.maximum is None else f" <= {info.maximum:g}"
        accepts = f"; {lo}value{hi}"
    return f"    --opt {namespace}.{info.name}={info.default}  ({info.type}{accepts}) {info.help}"


def generators_text() -> str:
    """Every generator and refine stage with its modes, defaults and options, and the
    reconstruct stage's options."""
    from humanmv.recon.reconstruct import RECONSTRUCT_MODES, ReconstructOptions

    lines = ["Generators (humanmv generate --generator NAME; humanmv bench --method NAME[KEY=VALUE,...]):"]
    for name in available_generators():
        spec = generator_spec(name)
        lines.append("")
        lines.append(f"  {name}: {spec.summary}")
        weights = spec.default_checkpoint.name if spec.default_checkpoint is not None else "none (no --checkpoint)"
        lines.append(f"    modes: {', '.join(spec.modes)}; reconstruct: {spec.reconstruct}; "
                     f"refine: {', '.join(spec.refine) or 'none'}; weights: {weights}")
        lines += [_option_line(name, i) for i in describe_options(spec.options)]
    refiners = available_refiners()
    lines += ["", "Refine stages (--refine NAME,...):" + ("" if refiners else " none registered")]
    for name in refiners:
        spec = refiner_spec(name)
        lines.append(f"  {name}: {spec.summary} (modes: {', '.join(spec.modes)})")
        lines += [_option_line(name, i) for i in describe_options(spec.options)]
    lines += ["", f"Reconstruct stage (--reconstruct {'|'.join(RECONSTRUCT_MODES)}):"]
    lines += [_option_line("reconstruct", i) for i in describe_options(ReconstructOptions)]
    return "\n".join(lines)
