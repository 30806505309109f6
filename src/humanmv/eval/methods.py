"""The methods `humanmv bench` can score, by name: a registry of predictor factories.

A method is a factory, called once per bench run (it loads its models there), that returns a
predictor. A predictor is a callable

    predictor(gt: SubjectViews, name: str) -> Prediction

that gets a ground-truth subject whose LAST view is the input ("input") and predicts every
other view at its ground-truth camera. It may also have

    predictor.photo(image: LoadedImage, views: int, size: int) -> PhotoPrediction

for `humanmv bench --real` (a photo without ground truth: the method's own full pipeline).
A new method plugs in with one line, without touching the runner:

    register_method("mvdiff", lambda: MyPredictor(...))

Built in: "copy-input" (the input image as every view, the trivial baseline) and "prior" (the
textured-avatar pipeline, with the ground-truth target cameras carried into the fit's frame by
`cameras.align_to_fit`; its rendered depth is exposed for the consistency metrics) and "mvdiff"
(the prior's views refined by the multi-view diffusion model and fused into the avatar; the
shipped checkpoint unless `use_mvdiff_checkpoint` names another) and "mvdiff-raw" (the model's
views before fusion).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from humanmv.cameras import Cameras
from humanmv.data.format import SubjectViews
from humanmv.errors import ConfigError


@dataclass
class Prediction:
    """A method's C views.

    rgb:     (C, H, W, 3) float32 in [0, 1].
    mask:    (C, H, W) float32 in [0, 1] (the person's alpha).
    depth:   (C, H, W) camera z of the method's own 3D, 0 on the background; None if the
             method has no depth (the reprojection consistency is then "n/a").
    cameras: the C cameras `depth` is measured with (the method's frame and units); None means
             the ground-truth cameras.
    """

    rgb: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor | None = None
    cameras: Cameras | None = None


@dataclass
class PhotoPrediction:
    """A method's output for a real photo: `views` all round (with their cameras) and the
    method's view at the photo's own camera (`photo_rgb` (H, W, 3), `photo_mask` (H, W), in the
    photo's pixels), used for pose accuracy against the photo."""

    views: Prediction
    photo_rgb: torch.Tensor
    photo_mask: torch.Tensor


Predictor = Callable[[SubjectViews, str], Prediction]
_METHODS: dict[str, Callable[[], Any]] = {}


def register_method(name: str, factory: Callable[[], Any]) -> None:
    """Make `name` available to `humanmv bench --method` (a later call replaces it)."""
    _METHODS[name] = factory


def available_methods() -> list[str]:
    return list(_METHODS)


def check_methods(methods: list[str]) -> None:
    """ConfigError (one line) for the first unknown method name."""
    unknown = [m for m in methods if m not in _METHODS]
    if unknown:
        raise ConfigError(f"unknown --method {unknown[0]!r}; available: {', '.join(_METHODS)}")


def make_predictor(name: str) -> Any:
    check_methods([name])
    return _METHODS[name]()


def on_white(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(C, H, W, 3), (C, H, W) -> (C, 3, H, W) composited on white (as a viewer sees them)."""
    return (rgb * mask[..., None] + (1 - mask[..., None])).permute(0, 3, 1, 2)


def _split_views(gt: SubjectViews) -> tuple[Cameras, int]:
    """The rig cameras (all but the last view) and the input view's index (the last)."""
    n = len(gt.cameras)
    return gt.cameras[list(range(n - 1))], n - 1


class CopyInput:
    """The input image as every view."""

    def __call__(self, gt: SubjectViews, name: str) -> Prediction:
        rig, inp = _split_views(gt)
        C = len(rig)
        return Prediction(gt.rgb[inp].expand(C, -1, -1, -1).clone(), gt.mask[inp].expand(C, -1, -1).clone())

    def photo(self, image: Any, views: int, size: int) -> PhotoPrediction:
        rgb = torch.from_numpy(image.rgb.copy()).float() / 255
        mask = torch.ones(rgb.shape[:2])
        return PhotoPrediction(Prediction(rgb.expand(views, -1, -1, -1).clone(), mask.expand(views, -1, -1).clone()),
                               rgb, mask)


class Prior:
    """The prior pipeline (fit, texture, render) at the ground-truth cameras."""

    def __init__(self) -> None:
        from humanmv.pipelines.prior import PriorPipeline

        self.pipe = PriorPipeline(texture_size=512)

    def __call__(self, gt: SubjectViews, name: str) -> Prediction:
        from humanmv.pipelines.prior_views import prior_views_for_subject

        rig, _ = _split_views(gt)
        views = prior_views_for_subject(self.pipe, gt, name, cameras=rig).views
        return Prediction(views.rgb, views.mask, views.depth, views.cameras)

    def photo(self, image: Any, views: int, size: int) -> PhotoPrediction:
        result = self.pipe(image, views=views, size=size)
        v = result.views
        at_photo = self.pipe.generator(result.subject, result.fit.fit.camera)
        return PhotoPrediction(Prediction(v.rgb, v.mask, v.depth, v.cameras), at_photo.rgb[0], at_photo.mask[0])


class MVDiff(Prior):
    """The prior's views at the ground-truth cameras refined by the mvdiff generator, exactly
    as `humanmv generate --generator mvdiff` does for a photo (the input view is the photo).
    fuse=False scores the model's raw views (before they are fused into the avatar)."""

    def __init__(self, checkpoint: Path | None = None, fuse: bool = True) -> None:
        super().__init__()
        from humanmv.pipelines.mvdiff import MVDiffGenerator

        self.generator = MVDiffGenerator(self.pipe.renderer, checkpoint, fuse=fuse, body=self.pipe.body)

    def __call__(self, gt: SubjectViews, name: str) -> Prediction:
        from humanmv.pipelines.prior_views import prior_views_for_subject

        rig, _ = _split_views(gt)
        result = prior_views_for_subject(self.pipe, gt, name, cameras=rig)
        out = self.generator.refine(result.views, result.subject, seed=0)
        return Prediction(out.rgb, out.mask, out.depth, out.cameras)

    def photo(self, image: Any, views: int, size: int) -> PhotoPrediction:
        result = self.pipe(image, views=views, size=size)
        v = self.generator(result.subject, result.views.cameras)
        if v.avatar is not None:  # the fused avatar, seen from the photo's camera
            seen = self.pipe.renderer.render(v.avatar, result.fit.fit.camera, outputs=("mask", "rgb"))
            return PhotoPrediction(Prediction(v.rgb, v.mask, v.depth, v.cameras), seen.rgb[0] * seen.mask[0, ..., None],
                                   seen.mask[0])
        at_photo = self.generator(result.subject, result.fit.fit.camera)
        return PhotoPrediction(Prediction(v.rgb, v.mask, v.depth, v.cameras), at_photo.rgb[0], at_photo.mask[0])


_MVDIFF_CHECKPOINT: list[Path | None] = [None]


def use_mvdiff_checkpoint(folder: Path | None) -> None:
    """The checkpoint the "mvdiff" method loads (None: the shipped one)."""
    _MVDIFF_CHECKPOINT[0] = folder


register_method("copy-input", CopyInput)
register_method("prior", Prior)
register_method("mvdiff", lambda: MVDiff(_MVDIFF_CHECKPOINT[0]))
register_method("mvdiff-raw", lambda: MVDiff(_MVDIFF_CHECKPOINT[0], fuse=False))
