"""The tiny dataset of the 3DHumanGAN data and training tests: 3 body-train-clothed subjects
(dataset seed 9: 000000 t-pose in val, 000001 walking and 000002 a-pose in train), written
like `humanmv synth` does but with the session's body model and renderer, once per session.
"""

from __future__ import annotations

import json
from pathlib import Path

SEED, SUBJECTS = 9, 3
FAMILIES = {"000000": ("t-pose", "val"), "000001": ("walking", "train"), "000002": ("a-pose", "train")}
_BUILT: dict[str, Path] = {}


def gan3d_dataset(tmp_path_factory, body, renderer) -> Path:
    """The dataset folder (built on first call in this session)."""
    if "root" not in _BUILT:
        from humanmv.data.engine import SubjectRenderer, SubjectSampler, get_preset
        from humanmv.data.format import write_subject
        from humanmv.data.synth import split_of, subject_seed

        root = tmp_path_factory.mktemp("gan3d") / "data"
        preset = get_preset("body-train-clothed")
        sample, render = SubjectSampler(body), SubjectRenderer(body, renderer)
        entries = []
        for i in range(SUBJECTS):
            spec = sample(subject_seed(SEED, i), expressions=preset.expressions, clothed=preset.clothed)
            write_subject(root / "subjects" / f"{i:06d}", render(spec, preset))
            entries.append({"name": f"{i:06d}", "split": split_of(SEED, i, preset), "seed": subject_seed(SEED, i)})
        (root / "manifest.json").write_text(json.dumps({"preset": preset.name, "seed": SEED, "subjects": entries}))
        _BUILT["root"] = root
    return _BUILT["root"]
