"""Mutation check: break one claimed behaviour at a time and show that a test notices.

Each mutant replaces one exact snippet of the package's source in a temporary copy of
`src/`, then runs the tests that guard that behaviour against the copy (PYTHONPATH first, so
the tests' subprocesses use it too). A mutant "survives" when those tests still pass: then no
test proves the claim. Slow (minutes per mutant): run before resolving, not in CI.

    .venv/bin/python scripts/mutation_check.py [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under src/humanmv/
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant("conditioning zeroed", "models/mv_unet.py",
           "return torch.cat([x, self._to_model_space(conditions)], dim=-3)",
           "return torch.cat([x, torch.zeros_like(self._to_model_space(conditions))], dim=-3)",
           ("tests/models/test_model_inputs_matter.py",)),
    Mutant("camera features zeroed", "models/camera.py",
           "return torch.cat([rel.reshape(-1, 9), direction], dim=-1)",
           "return torch.zeros_like(torch.cat([rel.reshape(-1, 9), direction], dim=-1))",
           ("tests/models/test_camera.py",)),
    Mutant("padding replaced by stretching", "generators/mvdiff.py",
           "return ModelWindow(corner(cx, width), corner(cy, height), side, width, height)",
           "return StretchedWindow(0, 0, max(width, height), width, height)",
           ("tests/generators/test_mvdiff.py::test_views_of_any_shape_come_back_where_the_prior_put_the_person",
            "tests/generators/test_mvdiff.py::test_the_model_window_frames_the_person_as_in_training")),
    Mutant("guidance weight ignored", "pipelines/mvdiff.py",
           "pred = pred[1] + guidance_scale * (pred[0] - pred[1]) if guided else pred[0]",
           "pred = pred[0]",
           ("tests/pipelines/test_mvdiff_pipeline.py",)),
    Mutant("sampler seed ignored", "generators/mvdiff.py",
           "generator = torch.Generator().manual_seed(seed)",
           "generator = torch.Generator().manual_seed(0)",
           ("tests/generators/test_contract.py",)),
    Mutant("refit skipped", "recon/reconstruct.py",
           "refit, avatar = refit_avatar(views, subject, body, o)",
           "refit, avatar = None, avatar",
           ("tests/recon/test_reconstruct.py",)),
    Mutant("texture fusion skipped", "recon/reconstruct.py",
           "avatar = avatar.with_texture(fused.texture)",
           "avatar = avatar",
           ("tests/recon/test_reconstruct.py",)),
    Mutant("refit placement dropped from avatar.json", "recon/avatar.py",
           '"placement": {"rotation": self.rotation.tolist(), "translation": self.translation.tolist(),',
           '"placement": {"rotation": torch.eye(3).tolist(), "translation": [0.0, 0.0, 0.0],',
           ("tests/recon/test_reconstruct.py",)),
    Mutant("camera x axis flipped", "cameras.py",
           "x = torch.nn.functional.normalize(torch.cross(-up_t, z, dim=-1), dim=-1)",
           "x = torch.nn.functional.normalize(torch.cross(up_t, z, dim=-1), dim=-1)",
           ("tests/test_cameras.py",)),
    Mutant("views drawn at the canvas size, not their own", "render/renderer.py",
           "own = (0, 0, int(sizes[c, 0]), int(sizes[c, 1]))",
           "own = (0, 0, W, H)",
           ("tests/render/test_renderer_sizes.py",)),
    Mutant("prior views rendered in the wrong order", "generators/prior.py",
           "out = self.renderer.render(subject.avatar, cameras, outputs=RENDERED_LAYERS)",
           "out = self.renderer.render(subject.avatar, cameras[list(range(len(cameras)))[::-1]], "
           "outputs=RENDERED_LAYERS)",
           ("tests/cli/test_cli_generate.py",)),
    Mutant("limb depth term dropped", "body/fitting.py",
           "if limb_target is not None and use_depth:",
           "if False:",
           ("tests/body/test_fitting.py::test_the_lifter_puts_limbs_the_right_way_in_depth",)),
    Mutant("unseen parts not held", "body/fitting.py",
           "free = (1 - unseen_bone_weights(seen, POSE_BONES))[:, None] if cfg.hold_unseen else",
           "free = torch.ones(len(POSE_BONES), 1) if cfg.hold_unseen else",
           ("tests/body/test_fitting.py::test_unseen_legs_of_a_cropped_photo_stay_neutral",
            "tests/pipelines/test_fitting_crops.py")),
)

# The stretching mutant needs a window class that resizes the whole view instead of cutting a
# square out of it; it is appended to the mutated module.
STRETCH = '''

class StretchedWindow(ModelWindow):
    """Mutant: the whole view resized to a square (stretched), and back."""

    def cut(self, image, fill):
        import torch.nn.functional as F

        return F.interpolate(image[None, :, :self.height, :self.width], size=(self.side, self.side),
                             mode="bilinear", align_corners=False)[0]

    def paste(self, window, canvas):
        import torch.nn.functional as F

        canvas[:, :self.height, :self.width] = F.interpolate(window[None], size=(self.height, self.width),
                                                             mode="bilinear", align_corners=False)[0]
'''


def apply(src: Path, mutant: Mutant) -> None:
    path = src / "humanmv" / mutant.file
    text = path.read_text()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"mutant {mutant.name!r}: the snippet occurs {text.count(mutant.old)} times in "
                         f"{mutant.file}; update the mutant to the current code")
    text = text.replace(mutant.old, mutant.new)
    if "StretchedWindow(" in mutant.new:
        text += STRETCH
    path.write_text(text)


def run(mutant: Mutant, timeout: float) -> tuple[bool, float, str]:
    """(killed, seconds, the last lines of pytest's output)."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        apply(src, mutant)
        env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                   *mutant.tests], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            out, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired:
            out, code = "timed out", -1
        seconds = time.perf_counter() - t
    tail = [ln for ln in out.splitlines() if ln.strip()][-1:] or [""]
    return code != 0, seconds, tail[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="names of mutants to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.file} -> {' '.join(m.tests)}")
        return
    survivors = []
    for m in chosen:
        killed, seconds, tail = run(m, args.timeout)
        print(f"{'killed  ' if killed else 'SURVIVED'} {m.name} ({m.file}; {seconds:.0f} s): {tail}", flush=True)
        if not killed:
            survivors.append(m.name)
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed"
          + (f"; surviving: {', '.join(survivors)}" if survivors else ""))
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
