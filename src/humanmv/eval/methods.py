"""The methods `humanmv bench` can score: every registered generator (any variant of it,
`NAME[KEY=VALUE,...]`, see `generators.GeneratorChoice.parse`) and the trivial baseline
"copy-input" (the input image as every view).

A predictor is built once per bench run and called per subject:

    predictor(gt: Views, name: str) -> Views            # --split: every view but the last
    predictor.photo(image, views, size) -> PhotoPrediction   # --real: a photo, no ground truth

`gt`'s LAST view is the input ("input"); the predictor returns rgb, mask and (when the method
has 3D) depth at the other views' ground-truth cameras carried into its own frame — the
returned views' cameras are what its depth is measured with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from humanmv.views import Views

BASELINES = ("copy-input",)


@dataclass
class PhotoPrediction:
    """A method's output for a real photo: `views` all round (with their cameras) and the
    method's view at the photo's own camera (`photo_rgb` (H, W, 3), `photo_mask` (H, W), in the
    photo's pixels), used for pose accuracy against the photo. A generator's own body, for the
    checks without ground truth (`eval.real_checks`): `body_labels` / `body_mask` (C, h, w), its
    reconstructed avatar's part labels and silhouette at the views' cameras; `photo_labels`
    (H, W), the photo fit's part labels at the photo camera inside the person mask (-1 outside); None for the baselines."""

    views: Views
    photo_rgb: torch.Tensor
    photo_mask: torch.Tensor
    body_labels: torch.Tensor | None = None
    body_mask: torch.Tensor | None = None
    photo_labels: torch.Tensor | None = None


def available_methods() -> list[str]:
    """The baseline and every registered generator (variants: NAME[KEY=VALUE,...])."""
    from humanmv.generators import available_generators

    return list(BASELINES) + available_generators()


def check_methods(methods: list[str]) -> None:
    """A one-line ConfigError for the first method string that is not a baseline or a valid
    generator choice (unknown name, option, value or checkpoint), before any work."""
    from humanmv.errors import ConfigError
    from humanmv.generators import GeneratorChoice

    for method in methods:
        if method in BASELINES:
            continue
        if method.partition("[")[0].strip() not in available_methods():
            raise ConfigError(f"unknown --method {method!r}; available: {', '.join(available_methods())} "
                              "(a generator's variants: NAME[KEY=VALUE,...])")
        GeneratorChoice.parse(method)


def make_predictor(method: str, studio_factory, mode: str = "auto") -> Any:
    """The predictor for `method`; `studio_factory()` gives the shared Studio (built once);
    mode: how generators fit the input ("auto", "body", "head")."""
    if method == "copy-input":
        return CopyInput()
    from humanmv.generators import GeneratorChoice

    return GeneratorMethod(studio_factory(), GeneratorChoice.parse(method), mode)


def _rig(gt: Views):
    """The rig cameras (all but the last view)."""
    return gt.cameras[list(range(len(gt.cameras) - 1))]


class CopyInput:
    """The input image as every view."""

    def __call__(self, gt: Views, name: str) -> Views:
        rig = _rig(gt)
        C = len(rig)
        inp = len(gt.cameras) - 1
        return Views(rig, rgb=gt.rgb[inp].expand(C, -1, -1, -1).clone(), mask=gt.mask[inp].expand(C, -1, -1).clone())

    def photo(self, image: Any, views: int, size: int) -> PhotoPrediction:
        from humanmv.cameras import orbit_cameras, ring_azimuths

        rgb = torch.from_numpy(image.rgb.copy()).float() / 255
        mask = torch.ones(rgb.shape[:2])
        H, W = mask.shape
        cams = orbit_cameras(ring_azimuths(views), 0.0, 3.0, 30.0, W, H)
        return PhotoPrediction(Views(cams, rgb=rgb.expand(views, -1, -1, -1).clone(),
                                     mask=mask.expand(views, -1, -1).clone()), rgb, mask)


class GeneratorMethod:
    """A generator choice run exactly as `humanmv generate` runs it: on a synthetic subject
    from its input view (the ground-truth cameras carried into the fit's frame,
    `cameras.align_to_fit`), or on a real photo."""

    def __init__(self, studio, choice, mode: str = "auto") -> None:
        from humanmv.generators.registry import check_mode, fit_mode_for

        mode = fit_mode_for(choice.spec, mode)
        if mode != "auto":
            check_mode(choice.spec, mode)  # a head-only generator on a body bench fails before any work
        self.studio, self.choice, self.mode = studio, choice, mode
        studio.load(choice)  # load its models now: a broken checkpoint fails before any subject

    def __call__(self, gt: Views, name: str) -> Views:
        from humanmv.pipelines.prior_views import generate_for_subject

        result = generate_for_subject(self.studio, gt, name, self.choice, cameras=_rig(gt), mode=self.mode)
        v = result.views
        shells = [s.kind for s in result.avatar.shell_specs or []] if result.avatar is not None else []
        return Views(v.cameras, rgb=v.rgb, mask=v.mask, depth=v.depth, normal=v.normal, meta={"shells": shells})

    def photo(self, image: Any, views: int, size: int) -> PhotoPrediction:
        result = self.studio.generate(image, self.choice, views=views, size=size, mode=self.mode)
        v = result.views
        photo_camera = result.fit.fit.camera
        if result.choice.reconstruct == "none":  # no avatar of its own: the generator at the photo's camera
            seen = self.studio.load(self.choice).generator(result.subject, photo_camera)
            rgb, mask = seen.rgb[0], seen.mask[0]
        else:  # the reconstructed avatar, seen from the photo's camera
            seen = self.studio.renderer.render(result.avatar.mesh, photo_camera, outputs=("mask", "rgb"))
            rgb, mask = seen.rgb[0] * seen.mask[0, ..., None], seen.mask[0]
        body = self.studio.renderer.render(result.avatar.mesh, v.cameras, outputs=("labels", "mask"))
        at_photo = self.studio.renderer.render(result.subject.avatar, photo_camera, outputs=("labels",))
        return PhotoPrediction(Views(v.cameras, rgb=v.rgb, mask=v.mask, depth=v.depth), rgb, mask,
                               body_labels=body.labels, body_mask=body.mask,
                               photo_labels=torch.where(result.subject.person_mask > 0.5, at_photo.labels[0], -1))
