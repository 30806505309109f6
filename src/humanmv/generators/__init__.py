"""View generators and refine stages: the registry, the options machinery, the contracts.

    from humanmv.generators import GeneratorSpec, register_generator, option

Built in: "prior" (`generators.prior`) and "mvdiff" (`generators.mvdiff`). A new generator is
one module that defines its options dataclass, its generator class (`factory(context, options,
checkpoint)`, called as `generator(subject, cameras, seed) -> Views`) and registers a
`GeneratorSpec`; see docs/architecture.md, "How to add a generator".
"""

from humanmv.generators.base import Generator, GeneratorContext, Refiner, check_generated
from humanmv.generators.choice import GeneratorChoice
from humanmv.options import NoOptions, OptionInfo, build_options, describe_options, option
from humanmv.generators.registry import (GeneratorSpec, RefinerSpec, available_generators, available_refiners,
                                         check_mode, generator_spec, refiner_spec, register_generator,
                                         register_refiner)

__all__ = ["Generator", "GeneratorChoice", "GeneratorContext", "GeneratorSpec", "NoOptions", "OptionInfo", "Refiner",
           "RefinerSpec", "available_generators", "available_refiners", "build_options", "check_generated",
           "check_mode", "describe_options", "generator_spec", "option", "refiner_spec", "register_generator",
           "register_refiner"]
