"""3DHumanGAN speed: sampling 16 views of one person, and inverting a photo.

    python benchmarks/gan3d_speed.py [--checkpoint DIR] [--photo examples/astronaut.jpg] [--repeats 3]

- sample: `GAN3DSampler` on one random person, 16 portrait views (silhouette framing, shell
  samples, generator), after start-up (models loaded, one warm-up call); target <= 3 s on 2 cores.
- inversion: the `gan3d` generator's `invert` (default options) on the photo's fit, the fit
  done once beforehand; target <= 60 s.
Prints the median of --repeats runs and the ratio to the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--photo", default=str(ROOT / "examples" / "astronaut.jpg"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from humanmv.cameras import ring_azimuths
    from humanmv.generators import GeneratorChoice
    from humanmv.io.images import load_image
    from humanmv.models.gan3d import GAN3DGenerator
    from humanmv.pipelines.gan3d_sampling import DEFAULT_CHECKPOINT, GAN3DSampleConfig, GAN3DSampler, person_bodies
    from humanmv.pipelines.subject import make_subject
    from humanmv.studio import Studio

    checkpoint = args.checkpoint or str(DEFAULT_CHECKPOINT)
    studio = Studio()
    sampler = GAN3DSampler(GAN3DGenerator.from_pretrained(checkpoint), studio.body, studio.renderer)
    (params, _), = person_bodies(GAN3DSampleConfig(out="-", count=1), studio.body)[0]
    z = torch.randn(sampler.config.z_dim, generator=torch.Generator().manual_seed(0))

    def sample():
        posed = sampler.posed(params)
        sampler(z, posed, sampler.portrait_cameras(posed, ring_azimuths(16)))

    sample()  # warm-up
    t_sample = timed(sample, args.repeats)

    image = load_image(args.photo)
    photo_fit = studio.fitter(image, mode="body")
    subject = make_subject(photo_fit, studio.texture_builder(studio.texture_size)).subject
    generator = studio.load(GeneratorChoice.make("gan3d", checkpoint=checkpoint)).generator
    from humanmv.models.gan3d import PosedBody

    posed = PosedBody.from_anny(studio.body, subject.body_params)
    reports = []
    t_invert = timed(lambda: reports.append(generator.invert(subject, posed)[2]), args.repeats)
    print(f"gan3d speed ({torch.get_num_threads()} torch threads), checkpoint {checkpoint}")
    print(f"sample 16 views of one person: {t_sample:.2f} s median of {args.repeats} (target 3 s, ratio {t_sample / 3:.2f})")
    print(f"inversion of {Path(args.photo).name} ({reports[-1]['steps']} steps): {t_invert:.1f} s median "
          f"(target 60 s, ratio {t_invert / 60:.2f}); photo-view PSNR in the mask {reports[-1]['photo_psnr_in_mask_db']} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
