"""Training pairs for the mvdiff generator (issue 6): the prior fitted to each synthetic
subject's input view, against the subject's ground-truth views.

The model must learn to correct real fitting errors, so its conditions (coarse RGBA and normal
maps at the target cameras) come from the prior pipeline run on the input view alone, never
from the ground truth. `prepare_prior_views` runs that once per subject and stores the prior's
views next to the dataset:

    ROOT/prior/<subject>/   subject format (data.format): rgb, normal, mask, depth at every
                            camera of the subject (rig + "input"), cameras in the FIT's frame
    ROOT/prior/failed.json  subjects the prior could not fit, with the reason

The same tensor conventions serve training and inference (`view_tensors`, `person_box`,
`crop_square`), so a photo at inference is prepared exactly as a synthetic input view.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from humanmv.data.format import SubjectViews, finished_subjects, read_subject, write_subject
from humanmv.errors import ConfigError, HumanMVError
from humanmv.io.atomic import atomic_write_text

REFERENCE_MARGIN = 1.15  # the reference crop's side over the person's longer box side


def view_tensors(rgb: torch.Tensor, mask: torch.Tensor, normal: torch.Tensor | None = None) -> torch.Tensor:
    """(C, H, W, 3) rgb, (C, H, W) mask[, (C, H, W, 3) camera normals] -> (C, 4[+3], H, W) in
    [0, 1]: RGB composited on white, alpha, and normals as (n + 1) / 2 inside the mask, 1 (white)
    outside."""
    m = mask[..., None]
    parts = [rgb * m + (1 - m), m]
    if normal is not None:
        parts.append((normal + 1) / 2 * m + (1 - m))
    return torch.cat(parts, dim=-1).permute(0, 3, 1, 2).contiguous()


def resize_views(x: torch.Tensor, size: int) -> torch.Tensor:
    """(C, K, H, W) -> (C, K, size, size), area-averaged when shrinking."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def person_box(mask: torch.Tensor, margin: float = REFERENCE_MARGIN) -> tuple[float, float, float]:
    """(H, W) mask -> a square (x0, y0, side) in pixels around the person, `margin` times its
    longer side, centred on the mask's bounding box. ConfigError when the mask is empty."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(xs) == 0:
        raise ConfigError("the person mask is empty; nothing to crop for the reference view")
    x0, x1 = float(xs.min()), float(xs.max()) + 1
    y0, y1 = float(ys.min()), float(ys.max()) + 1
    side = max(x1 - x0, y1 - y0) * margin
    return (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side


def crop_square(images: torch.Tensor, box: tuple[float, float, float], size: int,
                fill: torch.Tensor) -> torch.Tensor:
    """(C, K, H, W) images -> (C, K, size, size): the square `box` (x0, y0, side) in pixels,
    resampled bilinearly (after an anti-aliased shrink when the box is much larger than `size`);
    outside the image each channel is `fill` (K,)."""
    C, K, H, W = images.shape
    x0, y0, side = box
    # Shrink first so the bilinear sampling below never skips pixels.
    scale = size / side
    if scale < 0.5:
        h2, w2 = max(1, round(H * scale * 2)), max(1, round(W * scale * 2))
        images = F.interpolate(images, size=(h2, w2), mode="bilinear", align_corners=False, antialias=True)
        x0, y0, side = x0 * w2 / W, y0 * h2 / H, side * w2 / W
        H, W = h2, w2
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size * side
    gx = (x0 + centres) / W * 2 - 1
    gy = (y0 + centres) / H * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None].expand(C, -1, -1, -1)
    fill = fill.view(1, K, 1, 1).to(images)
    out = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill


REFERENCE_FILL = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])  # white RGB, alpha 0, white normals


def reference_inputs(photo: torch.Tensor, person_mask: torch.Tensor, render_rgb: torch.Tensor,
                     render_mask: torch.Tensor, render_normal: torch.Tensor,
                     size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's reference: the photo and the prior's render at the photo camera, both
    cropped to the same square around the person and resized to `size`.

    photo (H, W, 3), person_mask (H, W) in [0, 1]; render_rgb (H, W, 3), render_mask (H, W),
    render_normal (H, W, 3) camera normals: the prior seen from the photo camera.
    Returns reference (4, size, size) and reference_conditions (7, size, size).
    """
    box = person_box(person_mask)
    reference = crop_square(view_tensors(photo[None], person_mask[None]), box, size, REFERENCE_FILL[:4])[0]
    conditions = view_tensors(render_rgb[None], render_mask[None], render_normal[None])
    return reference, crop_square(conditions, box, size, REFERENCE_FILL)[0]


def prior_views_for_subject(prior, gt: SubjectViews, name: str, cameras=None):
    """Run the prior on a synthetic subject's input view (the last view) and render it at
    `cameras` (default: every camera of the subject), carried into the fit's frame through the
    input camera (`cameras.align_to_fit`). Returns the prior's GenerationResult (fit, subject,
    views)."""
    from humanmv.cameras import align_to_fit
    from humanmv.io.images import LoadedImage

    inp = len(gt.cameras) - 1
    on_white = view_tensors(gt.rgb[inp:], gt.mask[inp:])[0, :3].permute(1, 2, 0)
    image = LoadedImage((on_white * 255).round().byte().numpy(), None, Path(f"{name}.png"))
    fit = prior.fitter(image, mode="auto")
    fitted, true = fit.photo_render["depth"], gt.depth[inp]
    if not bool((fitted > 0).any()) or not bool((true > 0).any()):
        raise ConfigError(f"{name}: no depth for the input view; cannot place the fit in the subject's frame")
    cams = align_to_fit(cameras if cameras is not None else gt.cameras, gt.cameras[[inp]], fit.fit.camera,
                        gt_depth=float(true[true > 0].median()), fit_depth=float(fitted[fitted > 0].median()))
    return prior(image, cameras=cams, photo_fit=fit)


def prepare_prior_views(root: Path, progress: Callable[[int, int], None] | None = None,
                        split: str | None = None, texture_size: int = 512) -> int:
    """Fit the prior to every subject's input view and store its views under ROOT/prior/
    (resumable: finished subjects are skipped). Returns how many subjects were prepared now."""
    from humanmv.pipelines.prior import PriorPipeline

    root = Path(root)
    names = finished_subjects(root, split)
    if not names:
        raise ConfigError(f"{root}: no finished subjects; write some with `humanmv synth --out {root}`")
    out = root / "prior"
    out.mkdir(exist_ok=True)
    failed_path = out / "failed.json"
    failed = json.loads(failed_path.read_text()) if failed_path.is_file() else {}
    todo = [n for n in names if not (out / n / "meta.json").is_file() and n not in failed]
    prior = PriorPipeline(texture_size=texture_size) if todo else None
    done = 0
    for i, name in enumerate(names):
        if name in todo:
            gt = read_subject(root / "subjects" / name, layers=("rgb", "mask", "depth"))
            try:
                result = prior_views_for_subject(prior, gt, name)
                fit, views = result.fit, result.views
            except HumanMVError as err:  # a subject the prior cannot fit is skipped, and said why
                failed[name] = str(err).splitlines()[0]
                atomic_write_text(failed_path, json.dumps(failed, indent=1))
                continue
            tmp = out / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            meta = {"silhouette_iou": fit.silhouette_iou, "mode": fit.fit.mode}
            write_subject(tmp, SubjectViews(views.cameras, views.rgb, views.mask, views.normal, views.depth, meta=meta))
            os.replace(tmp, out / name)
            done += 1
        if progress:
            progress(i + 1, len(names))
    return done


class MVDiffPairs(Dataset):
    """Item = one subject: `views` random rig views (seeded by (seed, epoch, index)).

    Returns target (N, 4, s, s) ground-truth RGBA on white; coarse (N, 4, s, s) and normal
    (N, 3, s, s) the prior's render at the same cameras; camera (N, 12) features of each target
    relative to the input camera (`models.camera.camera_features`); reference (4, s, s) the
    input view and reference_conditions (7, s, s) the prior's render at the input camera, both
    cropped square around the person; subject (str). All in [0, 1], s = `size`.
    """

    def __init__(self, root: str | Path, views: int = 6, size: int = 64, seed: int = 0,
                 split: str | None = "train") -> None:
        self.root, self.views, self.size, self.seed, self.epoch = Path(root), views, size, seed, 0
        if not (self.root / "prior").is_dir():
            raise ConfigError(f"{root}: no prior/ views; prepare them with "
                              "humanmv.data.mvdiff_pairs.prepare_prior_views (the train command does)")
        self.subjects = [n for n in finished_subjects(self.root, split)
                         if (self.root / "prior" / n / "meta.json").is_file()]
        if not self.subjects:
            raise ConfigError(f"{root}: no subjects with prior views in split {split!r}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.subjects)

    def __getitem__(self, index: int) -> dict:
        from humanmv.models.camera import camera_features

        name = self.subjects[index]
        gt_dir, prior_dir = self.root / "subjects" / name, self.root / "prior" / name
        names = [v["name"] for v in json.loads((gt_dir / "cameras.json").read_text())]
        rig = [i for i, n in enumerate(names) if n != "input"]
        inp = names.index("input")
        rng = np.random.default_rng((self.seed, self.epoch, index))
        picks = sorted(rng.choice(rig, size=min(self.views, len(rig)), replace=False).tolist())
        gt = read_subject(gt_dir, layers=("rgb", "mask"), views=picks + [inp])
        pr = read_subject(prior_dir, layers=("rgb", "mask", "normal"), views=picks + [inp])
        reference, reference_conditions = reference_inputs(gt.rgb[-1], gt.mask[-1], pr.rgb[-1], pr.mask[-1],
                                                           pr.normal[-1], self.size)
        target = resize_views(view_tensors(gt.rgb[:-1], gt.mask[:-1]), self.size)
        conditions = resize_views(view_tensors(pr.rgb[:-1], pr.mask[:-1], pr.normal[:-1]), self.size)
        w2c = pr.cameras.world_to_cam
        return {
            "target": target,
            "coarse": conditions[:, :4], "normal": conditions[:, 4:],
            "camera": camera_features(w2c[:-1], w2c[-1]),
            "reference": reference, "reference_conditions": reference_conditions,
            "subject": name,
        }
