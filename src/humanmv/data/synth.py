"""`humanmv synth`: write N synthetic subjects of a preset into a dataset folder.

    OUT/manifest.json        preset, seed, subjects with their split (train/val/test by subject)
    OUT/subjects/NNNNNN/     one subject folder each (data.format), written to a temporary
                             folder and renamed when complete, so re-running skips finished
                             subjects and never sees half a subject.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import torch

from humanmv.data.engine import SubjectSampler, get_preset
from humanmv.data.format import write_subject
from humanmv.errors import OutputError
from humanmv.io.atomic import atomic_write_text

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def split_of(seed: int, index: int) -> str:
    """train/val/test by a hash of (dataset seed, subject index): stable, never overlapping."""
    h = int(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if h < edge:
            return name
    return SPLITS[-1][0]


def subject_seed(seed: int, index: int) -> int:
    return seed * 1_000_000 + index


def synthesize(out: Path, preset_name: str, subjects: int, seed: int = 0,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Write (or complete) the dataset; returns {"written": n, "skipped": n}."""
    from humanmv.body.anny_model import AnnyBody
    from humanmv.data.engine import SubjectRenderer
    from humanmv.render import Renderer

    preset = get_preset(preset_name)
    out = Path(out)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if (old.get("preset"), old.get("seed")) != (preset.name, seed):
            raise OutputError(f"{out}/ holds a {old.get('preset')} dataset with seed {old.get('seed')}; "
                              "choose another --out to write a different one")
    try:
        (out / "subjects").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out}: cannot create the dataset folder ({err.strerror}); choose another --out") from None
    body = AnnyBody()
    render = SubjectRenderer(body, Renderer())
    sample_subject = SubjectSampler(body)
    written = skipped = 0
    entries = []
    for i in range(subjects):
        name = f"{i:06d}"
        final = out / "subjects" / name
        entries.append({"name": name, "split": split_of(seed, i), "seed": subject_seed(seed, i)})
        if (final / "meta.json").exists():
            skipped += 1
        else:
            spec = sample_subject(subject_seed(seed, i), expressions=preset.expressions)
            tmp = out / "subjects" / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            write_subject(tmp, render(spec, preset))
            os.replace(tmp, final)
            written += 1
        if progress:
            progress(i + 1, subjects)
    atomic_write_text(manifest_path, json.dumps({
        "preset": preset.name, "seed": seed, "rig": preset.rig, "size": preset.size,
        "views_per_subject": len(preset.azimuths), "input_view": "input", "subjects": entries,
    }, indent=1))
    return {"written": written, "skipped": skipped}


def contact_sheet(out: Path, path: Path, subjects: int = 16, views: int = 4) -> Path:
    """A sheet of the first `subjects` subjects, `views` evenly spaced rig views each (one row
    per subject, on white), to look at what the engine makes."""
    import numpy as np

    from humanmv.data.format import read_subject
    from humanmv.io.grid import make_grid
    from humanmv.io.images import save_png

    manifest = json.loads((Path(out) / "manifest.json").read_text())
    tiles = []
    for entry in manifest["subjects"][:subjects]:
        folder = Path(out) / "subjects" / entry["name"]
        n = manifest["views_per_subject"]
        sub = read_subject(folder, layers=("rgb",), views=[round(k * n / views) for k in range(views)])
        rgba = torch.cat([sub.rgb, sub.mask[..., None]], -1)
        tiles.append((rgba.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    return save_png(path, make_grid(np.concatenate(tiles), cols=views * 4, pad=2))
