"""Does the unseen side and back of a garment keep the garment's colour? Colour error in the
garment region on held-out clothed subjects, where the photo did not look.

    python benchmarks/completion_clothed.py [--split data/body-bench-clothed] [--subjects 20]
        [--start 0] [--method prior ...] [--json out.json] [--sheet S.png] [--against OLD.json]

Each subject's input view (a front view within +-30 deg) goes through the method as `humanmv
generate` runs it (`eval.methods`); at the ground-truth cameras nearest az 90 / 270 ("side")
and 180 ("back") it measures the mean CIE-Lab colour difference (CIE76 ΔE, sRGB D65) between
the method's view and the true one over the garment pixels both show: the pixels of a garment
shell (upper / lower garment, dress) or of the body where the subject's top or bottom is
painted (`data.appearance.garment_texels`, rendered through the true dressed mesh, so hair,
skin, shoes and the far side of an occluding arm are left out), and the same over the skin
pixels for contrast; the ΔE of the mean garment colours in 4 horizontal bands of each view (the
garment's colour, whatever its pattern); and the a*b* distance alone (hue and chroma, not
lightness: the true views are lit from the front by the engine's light, so their backs are in
shadow, which no completion from a front photo knows). Paired 95% intervals of each method against the first, over subjects.
The split is written with `humanmv synth --preset body-bench-clothed` when it is missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

SIDE, BACK = (90.0, 270.0), (180.0,)


def nearest_views(az: np.ndarray, wanted: tuple[float, ...]) -> list[int]:
    return [int(np.argmin(np.abs(((az - a) + 180) % 360 - 180))) for a in wanted]


def band_delta_e(pred_lab: torch.Tensor, true_lab: torch.Tensor, region: torch.Tensor, seen: torch.Tensor,
                 bands: int = 4) -> float:
    """ΔE between the mean true and predicted colours of `region` (H, W) bool in each of `bands`
    horizontal bands of its height (only pixels the prediction shows, `seen`), averaged over the
    bands with >= 20 of them: is the garment the right colour there, whatever its pattern."""
    rows = torch.nonzero(region.any(1))[:, 0]
    if len(rows) < bands:
        return float("nan")
    edges = torch.linspace(float(rows.min()), float(rows.max()) + 1, bands + 1)
    y = torch.arange(region.shape[0])[:, None].expand_as(region)
    out = []
    for k in range(bands):
        sel = region & seen & (y >= edges[k]) & (y < edges[k + 1])
        if int(sel.sum()) >= 20:
            out.append(float((pred_lab[sel].mean(0) - true_lab[sel].mean(0)).norm()))
    return float(np.mean(out)) if out else float("nan")


def lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) sRGB [0, 1] -> (N, H, W, 3) CIE-Lab."""
    from kornia.color import rgb_to_lab

    return rgb_to_lab(rgb.clamp(0, 1).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class GarmentRegions:
    """The true garment and skin pixels of a synthetic subject's views, rebuilt from its seed
    through the engine that rendered it (one instance per process: body, atlas, sampler)."""

    def __init__(self, studio, preset) -> None:
        from humanmv.data.engine import SubjectRenderer, SubjectSampler

        self.body, self.renderer, self.preset = studio.body, studio.renderer, preset
        self.sampler = SubjectSampler(self.body)
        self.engine = SubjectRenderer(self.body, self.renderer, 512)

    def __call__(self, seed: int, meta: dict, cameras) -> tuple[torch.Tensor, torch.Tensor]:
        """(garment, skin): (C, H, W) bool at `cameras`."""
        from humanmv.body.anny_model import PART_NAMES
        from humanmv.data.appearance import garment_texels
        from humanmv.shells.labels import label_of

        spec = self.sampler(seed, expressions=self.preset.expressions, clothed=True)
        assert spec.appearance.to_dict() == meta["appearance"], f"subject seed {seed} does not rebuild"
        top, bottom = garment_texels(self.engine.atlas, spec.appearance)
        painted = (bottom | (top if top is not None else torch.zeros_like(bottom))).float()[..., None]
        with torch.no_grad():
            verts = self.body(spec.params).vertices[0]
        mesh = self.body.mesh(verts, texture=painted.expand(-1, -1, 3).contiguous())
        if spec.outfit:
            # The shells' charts get their garments' colours painted in: blank them, the labels
            # say what those shells are.
            mesh = replace(self.engine.dressed(spec, mesh), texture=mesh.texture)
        out = self.renderer.render(mesh, cameras, outputs=("rgb", "mask", "labels"))
        labels, on = out.labels, out.mask > 0.5
        garment_labels = torch.tensor([label_of(n) for n in ("upper_garment", "lower_garment", "dress")])
        body_part = (labels >= 0) & (labels < len(PART_NAMES))
        garment = on & (torch.isin(labels, garment_labels) | (body_part & (out.rgb[..., 0] > 0.5)))
        skin_parts = torch.tensor([PART_NAMES.index(n) for n in PART_NAMES if n.split(".")[0] in
                                   ("upper_arm", "lower_arm", "hand", "upper_leg", "lower_leg", "neck")])
        skin = on & torch.isin(labels, skin_parts) & (out.rgb[..., 0] < 0.5)
        return garment, skin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", type=Path, default=Path("data/body-bench-clothed"))
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--start", type=int, default=0, help="skip the split's first START subjects")
    ap.add_argument("--method", action="append", default=None,
                    help="a method as `humanmv bench --method` takes it (repeat for more; default prior)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--sheet", type=Path, default=None, help="true / predicted side and back views, a row each")
    ap.add_argument("--against", type=Path, default=None,
                    help="a --json of the same subjects from another commit: pair each method against its rows there")
    args = ap.parse_args()
    if not (args.split / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "humanmv", "synth", "--preset", "body-bench-clothed", "--subjects",
                        str(args.start + args.subjects), "--out", str(args.split)], check=True)
    from humanmv.data.engine import get_preset
    from humanmv.data.format import read_subject
    from humanmv.eval.bench import split_folders
    from humanmv.eval.methods import make_predictor
    from humanmv.eval.pose3d import paired_interval
    from humanmv.studio import Studio

    manifest = json.loads((args.split / "manifest.json").read_text())
    seeds = {s["name"]: s["seed"] for s in manifest["subjects"]}
    methods = args.method or ["prior"]
    studio = Studio(texture_size=512)
    regions = GarmentRegions(studio, get_preset(manifest["preset"]))
    predictors = {m: make_predictor(m, lambda: studio) for m in methods}
    folders = split_folders(args.split, "test", args.start + args.subjects)[args.start:]
    keys = ("side", "back", "bands_side", "bands_back", "ab_side", "ab_back", "skin_side", "skin_back")
    rows = {m: {k: [] for k in keys} for m in methods}
    tiles = []
    for folder in folders:
        gt = read_subject(folder, layers=("rgb", "mask", "depth"))
        C = len(gt.cameras) - 1
        az = gt.cameras.az.numpy()[:C]
        side, back = nearest_views(az, SIDE), nearest_views(az, BACK)
        garment, skin = regions(seeds[folder.name], gt.meta, gt.cameras[list(range(C))])
        true_lab = lab(gt.rgb[:C])
        line = f"{folder.name} top {gt.meta['appearance']['top']:11s} bottom {gt.meta['appearance']['bottom']:8s}"
        for m in methods:
            pred = predictors[m](gt, folder.name)
            pred_lab = lab(pred.rgb)
            diff = (pred_lab - true_lab).norm(dim=-1)
            seen = pred.mask > 0.5
            for key, region, views in (("side", garment, side), ("back", garment, back),
                                       ("skin_side", skin, side), ("skin_back", skin, back)):
                sel = region[views] & seen[views]
                rows[m][key].append(float(diff[views][sel].mean()) if int(sel.sum()) >= 50 else float("nan"))
                if key in ("side", "back"):
                    rows[m]["bands_" + key].append(float(np.nanmean(
                        [band_delta_e(pred_lab[v], true_lab[v], region[v], seen[v]) for v in views])))
                    chroma = (pred_lab[..., 1:] - true_lab[..., 1:]).norm(dim=-1)
                    rows[m]["ab_" + key].append(float(chroma[views][sel].mean()) if int(sel.sum()) >= 50
                                                else float("nan"))
            line += (f"  {m}: ΔE side {rows[m]['side'][-1]:5.1f} back {rows[m]['back'][-1]:5.1f}"
                     f" (4 bands: {rows[m]['bands_side'][-1]:5.1f} {rows[m]['bands_back'][-1]:5.1f})")
            if args.sheet and len(tiles) < 12 * (len(methods) + 1):
                if m == methods[0]:
                    tiles.append(gt[side + back].on_white())
                tiles.append(pred[side + back].on_white())
        print(line, flush=True)
    print(f"\n{len(folders)} subjects of {args.split}; mean CIE76 ΔE over garment (skin) pixels at the side "
          f"(az {SIDE}) and back (az {BACK}) views; 4 bands: ΔE of the mean colours in 4 horizontal bands; a*b*: without lightness")
    report = {"subjects": len(folders), "methods": {}}
    for m in methods:
        r = {k: np.array(v) for k, v in rows[m].items()}
        text = (f"{m:32s} garment side {np.nanmean(r['side']):5.2f} back {np.nanmean(r['back']):5.2f}   "
                f"4 bands side {np.nanmean(r['bands_side']):5.2f} back {np.nanmean(r['bands_back']):5.2f}   "
                f"a*b* side {np.nanmean(r['ab_side']):5.2f} back {np.nanmean(r['ab_back']):5.2f}   "
                f"skin side {np.nanmean(r['skin_side']):5.2f} back {np.nanmean(r['skin_back']):5.2f}")
        if m != methods[0]:
            base = {k: np.array(v) for k, v in rows[methods[0]].items()}
            for k in keys:
                ok = ~np.isnan(base[k]) & ~np.isnan(r[k])
                ci = paired_interval(base[k][ok], r[k][ok])
                text += f"\n{'':32s} Δ {k:9s} {ci.mean:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}] (n={int(ok.sum())})"
        if args.against:
            old = json.loads(args.against.read_text())["methods"].get(m)
            if old is None:
                raise SystemExit(f"{args.against} has no rows of {m!r}; write it with the same --methods")
            for k in keys:
                a, b = np.array(old["per_subject"][k][:len(r[k])]), r[k]
                ok = ~np.isnan(a) & ~np.isnan(b)
                ci = paired_interval(a[ok], b[ok])
                text += (f"\n{'':32s} vs {args.against.name}: {k:10s} {np.mean(a[ok]):5.2f} -> {np.mean(b[ok]):5.2f}"
                         f"  Δ {ci.mean:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}] (n={int(ok.sum())})")
        print(text)
        report["methods"][m] = {"per_subject": rows[m], **{k: float(np.nanmean(v)) for k, v in r.items()}}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.sheet and tiles:
        from humanmv.io.grid import make_grid
        from humanmv.io.images import save_png

        images = (torch.cat(tiles).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        save_png(args.sheet, make_grid(images, cols=3 * (len(methods) + 1), pad=2))
        print(f"sheet -> {args.sheet}")


if __name__ == "__main__":
    main()
