"""Choose the face stage's sampler settings on VALIDATION subjects (never the bench's test ones).

On the val split of a face-crop dataset (`humanmv synth --preset head-train-haired`), each
subject's face crops degraded as a body view's generated face is (`data.face_views`), refined by
the model at each --strength (and with either stream switched off), scored against the true
crops inside the face mask: PSNR, and ST-LPIPS of the whole crop. Rows: the coarse input itself
(no face stage) and each setting, with the paired 95% interval against the coarse input.

    .venv/bin/python benchmarks/face_stage_tune.py --data data/head-train-haired --checkpoint runs/face-small/final
        [--subjects 24] [--strength 0.4 --strength 0.6 ...] [--steps 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR over the RGB pixels where mask > 0.5 (pred/target [N, 3, s, s], mask [N, s, s])."""
    m = (mask > 0.5)[:, None].expand_as(pred)
    mse = float(((pred - target)[m] ** 2).mean())
    return 10 * np.log10(1.0 / max(mse, 1e-10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=24)
    parser.add_argument("--strength", type=float, action="append")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--view-colour", type=float, action="append", help="view_colour settings to try")
    parser.add_argument("--ablate-at", type=float, default=None, help="strength of the other rows")
    args = parser.parse_args()

    from humanmv.body.anny_model import AnnyBody
    from humanmv.data.face_views import FaceCropViews
    from humanmv.eval.pose3d import paired_interval
    from humanmv.eval.lpips import lpips_distance
    from humanmv.eval.stlpips_weights import load_stlpips
    from humanmv.models.face_unet import FaceStageModel
    from humanmv.pipelines.face_refine import keep_low_frequencies, refine_face_crops, switch_streams

    body = AnnyBody()
    model = FaceStageModel.from_pretrained(args.checkpoint).eval()
    st_lpips = load_stlpips("alex")
    ds = FaceCropViews(args.data, body, size=model.config.sample_size, views=4, split="val", seed=123)
    strengths = args.strength or [0.4, 0.6, 0.8, 1.0]
    settings = {f"strength {s}": (s, True, True, 0.0) for s in strengths}
    best = args.ablate_at or strengths[len(strengths) // 2]
    for vc in args.view_colour or [0.05, 0.1]:
        settings[f"strength {best}, view colour {vc}"] = (best, True, True, vc)
    settings.update({f"strength {best}, no identity": (best, False, True, 0.0),
                     f"strength {best}, no 3D features": (best, True, False, 0.0)})
    scores: dict[str, dict[str, list[float]]] = {k: {"psnr": [], "st_lpips": []} for k in ["coarse", *settings]}
    n = min(args.subjects, len(ds))
    for i in range(n):
        item = ds[i]
        target, mask = item["target"][:, :3], item["face_mask"]

        def score(name: str, faces: torch.Tensor) -> None:
            scores[name]["psnr"].append(masked_psnr(faces[:, :3], target, mask))
            scores[name]["st_lpips"].append(float(lpips_distance(st_lpips, faces[:, :3], target).mean()))

        score("coarse", item["coarse"])
        for name, (strength, identity, shape, view_colour) in settings.items():
            run = switch_streams(item, identity=identity, shape=shape)
            faces = refine_face_crops(model, run, args.steps, strength, generator=torch.Generator().manual_seed(i))[:, :3]
            if view_colour:
                faces = keep_low_frequencies(faces, item["coarse"][:, :3], view_colour * faces.shape[-1])
            score(name, faces)
        print(f"subject {i + 1}/{n} done", flush=True)
    print(f"\n{n} val subjects x 4 face crops, {args.steps} steps; paired against the coarse input\n")
    print("| setting | face PSNR (dB) | Δ PSNR [95%] | ST-LPIPS | Δ ST-LPIPS [95%] |\n|---|---|---|---|---|")
    base = scores["coarse"]
    for name, s in scores.items():
        cells = []
        for metric in ("psnr", "st_lpips"):
            mean = float(np.mean(s[metric]))
            if name == "coarse":
                cells += [f"{mean:.3f}", "—"]
            else:
                ci = paired_interval(np.array(base[metric]), np.array(s[metric]))
                cells += [f"{mean:.3f}", f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
