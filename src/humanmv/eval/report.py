"""Bench results -> `results.json`, `results.md` (tables in the seeds' layouts) and a figure.

Aggregates: every per-view metric is averaged per subject first, then over subjects, with a
95% interval (normal approximation, 1.96 sd / sqrt(n), n = subjects; none for n = 1). FID and
KID pool the Inception features of all the method's views against all ground-truth views (per
part: all, front |az| <= 90, back). A metric that could not be computed is a cell saying why
("unavailable: pass --lpips-weights", "n/a (no face detected)"), never a number.

Tables: (a) overall (with ST-LPIPS and LPIPS); (b) front / back as seed 003 (PSNR, SSIM, ST-LPIPS,
CSIM, FID; ST-LPIPS stands where the seed has LPIPS); (c) face and
identity as seed 001 (FID, KID, CLIP, I2OID, O2OID, Re-ID match / distance, face views);
(d) view consistency between neighbouring views; (e) face crops against ground truth, side views
(|az| 30-90) and all face views (synthetic subjects with a body only); in --real mode (a) is success, time, PCK, part hue drift and silhouette outside the body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from humanmv.eval.availability import weights_reason
from humanmv.eval.bench import SubjectResult
from humanmv.eval.face_crops import SIDE_RANGE, in_side_range
from humanmv.perception.identity import SAME_PERSON_DISTANCE
from humanmv.views import channels_first, channels_last


def _front(az: float) -> bool:
    return abs(((az + 180) % 360) - 180) <= 90


PARTS: dict[str, Callable[[float], bool]] = {"all": lambda a: True, "front": _front, "back": lambda a: not _front(a)}


def _na(reason: str, short: str) -> dict:
    return {"unavailable": reason, "short": short}


NO_GT = _na("no ground truth (--real)", "n/a (no ground truth)")
METRIC_CELLS = ("psnr", "ssim", "iou", "lpips", "st_lpips", "clip", "csim", "i2oid", "reid_match", "reid_dist", "fid", "kid",
                "frechet_st")


def _stat(per_subject: list[float], count: int) -> dict | None:
    vals = [v for v in per_subject if v is not None and not math.isnan(v)]
    if not vals:
        return None
    mean = float(np.mean(vals))
    half = 1.96 * float(np.std(vals, ddof=1)) / math.sqrt(len(vals)) if len(vals) > 1 else float("nan")
    return {"mean": round(mean, 4) if math.isfinite(mean) else mean,
            "ci95": round(half, 4) if math.isfinite(half) else None, "subjects": len(vals), "count": count}


def _per_view(rows: list[SubjectResult], get: Callable[[SubjectResult], list | None],
              keep: Callable[[float], bool]) -> tuple[list[float], int]:
    """Per-subject means of the selected views' values (None skipped), and how many values."""
    per, count = [], 0
    for r in rows:
        vals = get(r)
        if not vals:
            continue
        sel = [float(v) for v, a in zip(vals, r.az) if keep(a) and v is not None]
        if sel:
            per.append(float(np.mean(sel)))
            count += len(sel)
    return per, count


def _pooled_fid(rows: list[SubjectResult], keep: Callable[[float], bool]) -> dict:
    from humanmv.eval.fid import fid_from_features, kid

    if rows and all(not r.psnr for r in rows):
        return {"fid": NO_GT, "kid": NO_GT}
    if not rows or all(r.features is None for r in rows):
        return {"fid": _na(weights_reason("FID"), "unavailable: pass --inception-weights"),
                "kid": _na(weights_reason("KID"), "unavailable: pass --inception-weights")}
    pick = [np.array([keep(a) for a in r.az], bool) for r in rows]
    a = np.concatenate([r.features[p] for r, p in zip(rows, pick)])
    b = np.concatenate([r.gt_features[p] for r, p in zip(rows, pick)])
    if min(len(a), len(b)) < 2:
        return {"fid": _na("fewer than 2 views", "n/a (too few views)"), "kid": _na("fewer than 2 views", "n/a (too few views)")}
    k_mean, k_std = kid(a, b, num_subsets=100, subset_size=min(1000, len(a), len(b)))
    return {"fid": {"value": round(fid_from_features(a, b), 4), "count": len(a)},
            "kid": {"value": round(k_mean, 6), "std": round(k_std, 6), "count": len(a)}}


def _pooled_frechet_st(rows: list[SubjectResult], keep: Callable[[float], bool]) -> dict:
    """The Fréchet distance between the views' and the ground truth's ST-LPIPS AlexNet trunk
    features (`eval.feature_distances`; not FID: compare it only with itself)."""
    from humanmv.eval.fid import fid_from_features

    if rows and all(not r.psnr for r in rows):
        return {"frechet_st": NO_GT}
    if not rows or any(r.st_features is None or r.gt_st_features is None for r in rows):
        return {"frechet_st": _na("ST-LPIPS weights not installed: run `humanmv setup`",
                                  "unavailable: run humanmv setup")}
    pick = [np.array([keep(a) for a in r.az], bool) for r in rows]
    a = np.concatenate([r.st_features[p] for r, p in zip(rows, pick)])
    b = np.concatenate([r.gt_st_features[p] for r, p in zip(rows, pick)])
    if min(len(a), len(b)) < 2:
        return {"frechet_st": _na("fewer than 2 views", "n/a (too few views)")}
    return {"frechet_st": {"value": round(fid_from_features(a, b), 4), "count": len(a)}}


def summarise(results: list[SubjectResult]) -> dict:
    """Per method: counts, failures, seconds, and every metric (see the module docstring)."""
    out: dict = {}
    for method in list(dict.fromkeys(r.method for r in results)):
        mine = [r for r in results if r.method == method]
        rows = [r for r in mine if r.error is None]
        entry: dict = {"subjects": len(rows), "failed": len(mine) - len(rows),
                       "failures": [{"subject": r.subject, "error": r.error} for r in mine if r.error],
                       "seconds_per_subject": round(float(np.mean([r.seconds for r in rows])), 3) if rows else None}
        no_faces = _na("no face detected in any generated view", "n/a (no face detected)")
        no_input_face = _na("no face detected in the input", "n/a (no face in input)")
        for part, keep in PARTS.items():
            cells: dict = {}
            n_views = sum(keep(a) for r in rows for a in r.az)
            if rows and n_views == 0:  # e.g. a ring around the front has no back views
                no_views = _na(f"no {part} views", "n/a (no views)")
                entry[part] = {**{k: no_views for k in METRIC_CELLS}, "face_views": 0, "views": 0}
                continue
            gt = not rows or any(r.psnr for r in rows)  # --real results have no ground truth
            for name, get, missing in (
                ("psnr", lambda r: r.psnr, NO_GT),
                ("ssim", lambda r: r.ssim, NO_GT),
                ("iou", lambda r: r.iou, NO_GT),
                ("lpips", lambda r: r.lpips, _na(weights_reason("LPIPS"), "unavailable: pass --lpips-weights")
                 if gt else NO_GT),
                ("st_lpips", lambda r: r.st_lpips, _na("ST-LPIPS weights not installed: run `humanmv setup`",
                                                           "unavailable: run humanmv setup")
                 if gt else NO_GT),
                ("clip", lambda r: r.clip, _na(weights_reason("CLIP"), "unavailable: pass --clip-weights")),
                ("csim", lambda r: r.csim, no_faces if gt else NO_GT),
                ("i2oid", lambda r: r.cos_to_input, no_faces),
                ("reid_match", lambda r: [None if d is None else float(d < SAME_PERSON_DISTANCE) for d in r.dist_to_input],
                 no_faces),
                ("reid_dist", lambda r: r.dist_to_input, no_faces),
            ):
                if name in ("i2oid", "reid_match", "reid_dist") and rows and not any(r.input_has_face for r in rows):
                    missing = no_input_face
                cells[name] = _stat(*_per_view(rows, get, keep)) or missing
            cells["face_views"] = sum(f for r in rows for f, a in zip(r.face, r.az) if keep(a))
            cells["views"] = sum(keep(a) for r in rows for a in r.az)
            cells.update(_pooled_fid(rows, keep))
            cells.update(_pooled_frechet_st(rows, keep))
            entry[part] = cells
        o2 = [r.identity["O2OID"]["value"] for r in rows if r.identity and r.identity["O2OID"]["available"]]
        entry["all"]["o2oid"] = _stat(o2, sum(r.identity["O2OID"]["count"] for r in rows if r.identity
                                              and r.identity["O2OID"]["available"])) or _na(
            "fewer than 2 face views in every subject", "n/a (no face detected)")
        consistency = {}
        pairs = lambda get: ([float(np.mean(v)) for v in (get(r) for r in rows) if v], sum(len(v) for v in (get(r) for r in rows) if v))  # noqa: E731
        reproj = pairs(lambda r: [p for p in (r.pair_psnr or []) if p is not None])
        consistency["reprojection_psnr"] = _stat(*reproj) or (
            _na("the method gives no depth", "n/a (no depth)") if all(r.pair_psnr is None for r in rows)
            else _na("no neighbouring views overlap", "n/a (no overlap)"))
        consistency["neighbour_o2oid"] = _stat(*pairs(lambda r: [p for p in r.pair_o2oid if p is not None])) or _na(
            "no two neighbouring views both show a face", "n/a (no face detected)")
        entry["consistency"] = consistency
        if any(r.face_crop_psnr is not None for r in rows):
            crops: dict = {}
            for part, keep in (("side", in_side_range), ("all", lambda a: True)):
                for name in ("psnr", "ssim", "st_lpips"):
                    get = lambda r, name=name: getattr(r, f"face_crop_{name}")  # noqa: E731
                    missing = _na("ST-LPIPS weights not installed: run `humanmv setup`", "unavailable: run humanmv setup") \
                        if name == "st_lpips" else _na("no face visible", "n/a (no face visible)")
                    crops[f"{name}_{part}"] = _stat(*_per_view(rows, get, keep)) or missing
                crops[f"views_{part}"] = sum(v is not None and keep(a) for r in rows
                                             for v, a in zip(r.face_crop_psnr or [], r.az))
            entry["face_crops"] = crops
        if any(r.hair_iou is not None for r in rows):
            hair: dict = {}
            for part, keep in PARTS.items():
                for name in ("hair_iou", "hair_de"):
                    get = lambda r, name=name: getattr(r, name)  # noqa: E731
                    hair[f"{name}_{part}"] = _stat(*_per_view(rows, get, keep)) or _na(
                        "no ground-truth hair in these views", "n/a (no hair)")
                hair[f"views_{part}"] = sum(v is not None and keep(a) for r in rows
                                            for v, a in zip(r.hair_iou or [], r.az))
            entry["hair"] = hair
        with_pose = [r.pck for r in rows if r.pck is not None and r.pck["total"] > 0]
        if with_pose:
            correct, total = sum(p["correct"] for p in with_pose), sum(p["total"] for p in with_pose)
            entry["pck"] = {**_stat([p["correct"] / p["total"] for p in with_pose], total), "pooled": round(correct / total, 4)}
        elif any(r.pck is not None or r.psnr == [] for r in rows):
            entry["pck"] = _na("no pose detected in the photos", "n/a (no pose detected)")
        drift = [r.hue_drift["mean"] for r in rows if r.hue_drift is not None]
        outside = [r.outside_body for r in rows if r.outside_body is not None]
        if drift or outside:
            entry["hue_drift"] = _stat(drift, len(drift)) or _na("no part shown in both", "n/a")
            entry["outside_body"] = _stat(outside, len(outside)) or _na("no silhouette", "n/a")
        elif any(r.psnr == [] for r in rows):
            no_body = _na("the method has no body of its own", "n/a (no body)")
            entry["hue_drift"] = entry["outside_body"] = no_body
        out[method] = entry
    return out


def _cell(c: dict | None, digits: int = 3) -> str:
    if c is None:
        return "n/a"
    if "unavailable" in c:
        return c["short"]
    if "value" in c:
        return f"{c['value']:.{digits}f}"
    if not math.isfinite(c["mean"]):
        return "inf"
    return f"{c['mean']:.{digits}f}" + (f" ± {c['ci95']:.{digits}f}" if c.get("ci95") is not None else "")


def _kid(c: dict) -> str:
    return c["short"] if "unavailable" in c else f"{1000 * c['value']:.2f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def results_markdown(summary: dict, mode: str = "split") -> str:
    """The report's tables (see the module docstring), and the failures with their reasons."""
    s = summary
    face_views = lambda e: f"{e['all']['face_views']} of {e['all']['views']}"  # noqa: E731
    if mode == "real":
        text = "### Real photos: success, time, pose\n\n" + _table(
            ["method", "photos", "succeeded", "success rate", "s/photo", "PCK@0.1 (photo camera)",
             "part hue drift (a*b*)", "silhouette outside body"],
            [[m, str(e["subjects"] + e["failed"]), str(e["subjects"]),
              f"{e['subjects'] / max(1, e['subjects'] + e['failed']):.2f}", str(e["seconds_per_subject"]),
              _cell(e.get("pck")), _cell(e.get("hue_drift"), 2), _cell(e.get("outside_body"))] for m, e in s.items()])
    else:
        text = "### Overall (all views)\n\n" + _table(
            ["method", "PSNR", "SSIM", "ST-LPIPS", "LPIPS", "IoU", "s/subject", "subjects", "failed"],
            [[m, _cell(e["all"]["psnr"]), _cell(e["all"]["ssim"]), _cell(e["all"]["st_lpips"]),
              _cell(e["all"]["lpips"]), _cell(e["all"]["iou"]),
              str(e["seconds_per_subject"]), str(e["subjects"]), str(e["failed"])] for m, e in s.items()])
        text += "\n### Front views (|az| <= 90) and back views (seed 003)\n\n" + _table(
            ["method"] + [f"{k} {p}" for p in ("front", "back")
                          for k in ("PSNR", "SSIM", "ST-LPIPS", "CSIM", "FID", "Fréchet (ST-LPIPS features)")],
            [[m] + [_cell(e[p][k]) for p in ("front", "back") for k in ("psnr", "ssim", "st_lpips", "csim", "fid",
                                                                         "frechet_st")]
             for m, e in s.items()])
    text += "\n### Face and identity, face-visible views only (seed 001)\n\n" + _table(
        ["method", "FID", "KID x1e3", "CLIP", "I2OID", "O2OID", "Re-ID match", "Re-ID dist", "face views"],
        [[m, _cell(e["all"]["fid"]), _kid(e["all"]["kid"]), _cell(e["all"]["clip"]), _cell(e["all"]["i2oid"]),
          _cell(e["all"]["o2oid"]), _cell(e["all"]["reid_match"]), _cell(e["all"]["reid_dist"]), face_views(e)]
         for m, e in s.items()])
    crops = {m: e["face_crops"] for m, e in s.items() if "face_crops" in e}
    if crops:
        text += (f"\n### Face crops against ground truth (seed 000 stage 2; side = |az| {SIDE_RANGE[0]:g}-"
                 f"{SIDE_RANGE[1]:g})\n\n") + _table(
            ["method"] + [f"{k} {p}" for p in ("side", "all") for k in ("PSNR", "SSIM", "ST-LPIPS")] + ["crops side", "crops all"],
            [[m] + [_cell(c[f"{k}_{p}"]) for p in ("side", "all") for k in ("psnr", "ssim", "st_lpips")]
             + [str(c["views_side"]), str(c["views_all"])] for m, c in crops.items()])
    hair = {m: e["hair"] for m, e in s.items() if "hair" in e}
    if hair:
        text += ("\n### Hair against ground truth (views whose ground truth shows hair; IoU of hair-coloured "
                 "pixels, CIE-Lab ΔE inside the true hair)\n\n") + _table(
            ["method"] + [f"{k} {p}" for p in ("front", "back") for k in ("hair IoU", "hair ΔE")]
            + ["views front", "views back"],
            [[m] + [_cell(h[f"{k}_{p}"]) for p in ("front", "back") for k in ("hair_iou", "hair_de")]
             + [str(h["views_front"]), str(h["views_back"])] for m, h in hair.items()])
    text += "\n### View consistency between neighbouring views\n\n" + _table(
        ["method", "reprojection PSNR (dB)", "pairs", "neighbour O2OID", "face pairs"],
        [[m, _cell(e["consistency"]["reprojection_psnr"]), str(e["consistency"]["reprojection_psnr"].get("count", 0)),
          _cell(e["consistency"]["neighbour_o2oid"]), str(e["consistency"]["neighbour_o2oid"].get("count", 0))]
         for m, e in s.items()])
    notes = sorted({c["unavailable"] for e in s.values() for part in ("all", "front", "back", "consistency")
                    for c in e.get(part, {}).values() if isinstance(c, dict) and "unavailable" in c})
    if notes:
        text += "\nNot computed: " + "; ".join(notes) + ".\n"
    failures = [f"- {m} on {f['subject']}: {f['error']}" for m, e in s.items() for f in e["failures"]]
    if failures:
        text += "\nFailures:\n\n" + "\n".join(failures) + "\n"
    return text


def _fit_tile(image: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(H', W', 3) -> (h, w, 3): scaled to fit, centred on white."""
    scale = min(h / image.shape[0], w / image.shape[1])
    nh, nw = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    small = channels_last(torch.nn.functional.interpolate(channels_first(image)[None], (nh, nw), mode="area")[0])
    tile = torch.ones(h, w, 3)
    tile[(h - nh) // 2:(h - nh) // 2 + nh, (w - nw) // 2:(w - nw) // 2 + nw] = small
    return tile


def comparison_figure(results: list[SubjectResult], inputs: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
                      subjects: int = 4, views: int = 4) -> np.ndarray:
    """Rows of (input | ground truth at `views` azimuths, if any | each method at the same views)
    for the first `subjects` subjects: (H', W', 3) uint8.

    inputs: subject -> (input image (H, W, 3), ground-truth views (C, H, W, 3) or None), on white.
    """
    from humanmv.io.grid import make_grid

    rows = []
    # Only subjects whose input was kept for the figure (a failed one is skipped, the next taken).
    shown = [n for n in dict.fromkeys(r.subject for r in results if r.views is not None) if n in inputs]
    for name in shown[:subjects]:
        mine = [r for r in results if r.subject == name and r.views is not None]
        photo, gt = inputs[name]
        C, H, W = mine[0].views.shape[:3]
        pick = [round(k * C / views) for k in range(views)]
        tiles = [_fit_tile(photo, H, W)] + ([gt[i] for i in pick] if gt is not None else [])
        for r in mine:
            tiles += [r.views[round(k * len(r.views) / views)] for k in range(views)]
        rows.append(torch.stack([_fit_tile(t, H, W) for t in tiles]))
    width = max(len(r) for r in rows)
    grid = torch.cat([torch.cat([r, torch.ones(width - len(r), *r.shape[1:])]) for r in rows])
    return make_grid((grid.clamp(0, 1) * 255).round().byte().numpy(), cols=width, pad=2)


def _clean(x):
    """JSON-ready: numpy scalars to Python, NaN to null, inf to "inf"."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if math.isnan(x) else ("inf" if x == math.inf else "-inf" if x == -math.inf else x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_results(out: Path, results: list[SubjectResult], inputs: dict | None = None, mode: str = "split",
                  run: dict | None = None) -> dict:
    """results.json, results.md and (with `inputs`, see `comparison_figure`) comparison.png
    into `out`; returns the summary."""
    summary = summarise(results)
    if inputs and any(r.views is not None for r in results):
        from humanmv.io.images import save_png

        save_png(out / "comparison.png", comparison_figure(results, inputs), fsync=False)
    data = {"mode": mode, "run": run or {}, "summary": summary, "subjects": [r.to_json() for r in results]}
    (out / "results.json").write_text(json.dumps(_clean(data), indent=1))
    (out / "results.md").write_text(results_markdown(summary, mode))
    return summary
