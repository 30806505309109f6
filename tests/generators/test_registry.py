"""The generator registry and the choice of a generator: one call registers, every consumer
sees it, and every wrong choice is one line naming the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from humanmv.errors import CheckpointError, ConfigError
from humanmv.generators import (GeneratorChoice, GeneratorSpec, available_generators, available_refiners,
                                check_mode, generator_spec, register_generator, register_refiner, RefinerSpec)
from humanmv.generators.listing import generators_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toy  # noqa: E402

toy.register()


def _message(fn, *args, error=ConfigError, **kwargs) -> str:
    with pytest.raises(error) as err:
        fn(*args, **kwargs)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_builtins_and_a_registered_toy_are_listed():
    names = available_generators()
    assert names[:2] == ["prior", "mvdiff"] and "toy" in names
    assert available_generators("head")[:1] == ["prior"] and "mvdiff" not in available_generators("head")
    assert "gain" in available_refiners()
    text = generators_text()
    for expected in ("prior:", "mvdiff:", "--opt mvdiff.steps=20", "toy:", "--opt toy.strength=0.3",
                     "gain:", "--opt gain.gain=1.0", "--opt reconstruct.photo_trust=16.0",
                     "modes: body; reconstruct: refit"):
        assert expected in text, expected


def test_bench_method_strings_choose_variants():
    c = GeneratorChoice.parse("mvdiff[steps=3, reconstruct=none, reconstruct.photo_trust=4]")
    assert c.name == "mvdiff" and c.options.steps == 3 and c.reconstruct == "none"
    assert c.reconstruct_options.photo_trust == 4.0 and c.label == "mvdiff[steps=3, reconstruct=none, reconstruct.photo_trust=4]"
    assert GeneratorChoice.parse("mvdiff").reconstruct == "refit" and GeneratorChoice.parse("prior").reconstruct == "none"
    t = GeneratorChoice.parse("toy[strength=0.5,refine=gain,gain.gain=2]")
    assert t.options.strength == 0.5 and t.refine == ("gain",) and t.refine_options["gain"].gain == 2.0
    assert c.key() != GeneratorChoice.parse("mvdiff").key()
    assert GeneratorChoice.parse("mvdiff[reconstruct=none]").key() == GeneratorChoice.parse("mvdiff").key()
    assert c.to_json()["options"]["steps"] == 3 and c.to_json()["reconstruct"] == "none"


def test_command_line_options_are_namespaced():
    c = GeneratorChoice.from_flags("mvdiff", ["mvdiff.steps=5", "reconstruct.refit_iterations=3"], None, "texture")
    assert c.options.steps == 5 and c.reconstruct_options.refit_iterations == 3 and c.reconstruct == "texture"
    assert GeneratorChoice.make("toy", {"strength": 0.1, "toy.strength": 0.2}).options.strength == 0.2


@pytest.mark.parametrize("call, expected", [
    (lambda: GeneratorChoice.parse("magic"), "unknown --generator 'magic'; available: prior, mvdiff"),
    (lambda: GeneratorChoice.parse("mvdiff[stepz=3]"), "unknown option mvdiff.stepz; options of mvdiff: steps,"),
    (lambda: GeneratorChoice.parse("mvdiff[steps=3"), "closing ']'"),
    (lambda: GeneratorChoice.parse("mvdiff[steps]"), "must look like KEY=VALUE"),
    (lambda: GeneratorChoice.from_flags("prior", ["steps=3"]), "must name its stage: --opt prior.steps=VALUE"),
    (lambda: GeneratorChoice.from_flags("prior", ["mvdiff.steps=3"]), "need --generator mvdiff; this run uses prior"),
    (lambda: GeneratorChoice.from_flags("prior", ["gain.gain=2"]), "need it in the run (--refine gain)"),
    (lambda: GeneratorChoice.from_flags("prior", ["warp.speed=9"]), "unknown stage 'warp'"),
    (lambda: GeneratorChoice.from_flags("prior", [], Path(__file__).parent), "--generator prior takes no checkpoint"),
    (lambda: GeneratorChoice.from_flags("prior", [], None, "mesh"), "--reconstruct must be one of none, texture, refit, surface"),
    (lambda: GeneratorChoice.from_flags("prior", [], None, None, "sharpen"), "unknown refine stage 'sharpen'"),
    (lambda: GeneratorChoice.from_flags("mvdiff", ["mvdiff.scheduler=euler"]), "mvdiff.scheduler must be one of ddim, dpm"),
])
def test_wrong_choices_are_one_line(call, expected):
    assert expected in _message(call)


def test_a_missing_checkpoint_names_the_folder(tmp_path):
    text = _message(GeneratorChoice.from_flags, "mvdiff", [], tmp_path / "nope", error=CheckpointError)
    assert "nope: checkpoint folder not found" in text and "humanmv train mvdiff" in text


def test_names_cannot_collide():
    with pytest.raises(ValueError, match="reserved"):
        register_generator(GeneratorSpec(name="reconstruct", factory=object))
    with pytest.raises(ValueError, match="already a refine stage"):
        register_generator(GeneratorSpec(name="gain", factory=object))
    with pytest.raises(ValueError, match="already a generator"):
        register_refiner(RefinerSpec(name="prior", factory=object))
    with pytest.raises(ValueError, match="modes"):
        register_generator(GeneratorSpec(name="odd", factory=object, modes=("legs",)))


def test_a_body_generator_refuses_a_head_naming_the_ones_that_do():
    text = _message(check_mode, generator_spec("mvdiff"), "head")
    assert ("--generator mvdiff makes bodies, not heads (--mode head); generators for heads: prior, head360, toy; "
            "for mvdiff pass --mode body") in text


def test_auto_mode_fits_heads_for_a_head_only_generator():
    from humanmv.generators.registry import fit_mode_for

    assert fit_mode_for(generator_spec("head360"), "auto") == "head"
    assert fit_mode_for(generator_spec("head360"), "body") == "body"  # refused later, by check_mode
    assert fit_mode_for(generator_spec("prior"), "auto") == "auto"
    assert fit_mode_for(generator_spec("mvdiff"), "auto") == "auto"
