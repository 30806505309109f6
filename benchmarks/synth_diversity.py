"""Diversity of the synthetic subject engine: over N subjects, the ranges of age,
height and BMI (Anny's anthropometry on the rest shape) and the counts of skin tones, garment
types, hair styles and pose families. Targets: >= 6 skin tones, >= 5 garment types, >= 4 hair
styles, >= 5 pose families.

    .venv/bin/python benchmarks/synth_diversity.py [--subjects 200] [--seed 0]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from anny import Anthropometry

    from humanmv.body.anny_model import AnnyBody
    from humanmv.data.engine import SubjectSampler
    from humanmv.data.synth import subject_seed

    body = AnnyBody()
    sample_subject = SubjectSampler(body)
    anthropometry = Anthropometry(body.anny)
    ages, heights, bmis = [], [], []
    counts: dict[str, Counter] = {k: Counter() for k in ("skin_tone", "garment", "hair", "pose")}
    for i in range(args.subjects):
        spec = sample_subject(subject_seed(args.seed, i))
        with torch.no_grad():
            rest = body.anny(phenotype_kwargs=spec.params.phenotype, facial_actions=spec.params.expression)
            m = anthropometry(rest["rest_vertices"])
        ages.append(spec.age_years)
        heights.append(float(m["height"][0]))
        bmis.append(float(m["bmi"][0]))
        look = spec.appearance
        counts["skin_tone"][look.skin_tone] += 1
        counts["garment"].update([look.top, look.bottom])
        counts["hair"][look.hair_style] += 1
        counts["pose"][spec.pose_family] += 1
    q = lambda v: f"{min(v):.2f}..{max(v):.2f} (median {np.median(v):.2f})"  # noqa: E731
    print(f"subjects {args.subjects}")
    print(f"age (years) {q(ages)}; height (m) {q(heights)}; BMI {q(bmis)}")
    targets = {"skin_tone": 6, "garment": 5, "hair": 4, "pose": 5}
    for key, counter in counts.items():
        print(f"{key:9s} {len(counter)} kinds (target >= {targets[key]}): {dict(sorted(counter.items()))}")


if __name__ == "__main__":
    main()
