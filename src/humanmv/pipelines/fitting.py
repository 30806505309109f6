"""Photo -> perception -> Anny body (or head) fit -> fit.json, overlay, normal maps.

`FitPipeline` owns the models (Anny, the perception nets, the renderer) and is built once;
calling it on a photo runs the stages top to bottom. `save_fit_outputs` writes what
`humanmv fit` promises; every generation (`Studio.generate`) starts from the same `PhotoFit`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from humanmv.body.anny_model import AnnyBody
from humanmv.body.face_landmarks import LandmarkMap
from humanmv.body.fitting import FitConfig, FitResult, FitTargets, fit_body
from humanmv.body.head_fitting import HeadFitConfig, fit_head
from humanmv.body.photo_intrinsics import focal_35mm_equivalent, resolve_intrinsics
from humanmv.cameras import Cameras, orbit_cameras_around
from humanmv.errors import ConfigError, NoPersonError
from humanmv.io.images import LoadedImage, save_png
from humanmv.perception import Perception, Perceiver
from humanmv.pipelines.checks import FIT_MODES, FitMode, perception_options
from humanmv.render import Renderer, render_normal_maps

log = logging.getLogger("humanmv")

FIT_VIEW_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)
FIT_VIEW_NAMES = ("front", "left", "back", "right")


@dataclass
class PhotoFit:
    """Everything known about one photo after fitting.

    image: the photo. perception: mask, keypoints, face. fit: the body/head fit.
    silhouette_iou: IoU of the fit's rendered mask with the person mask (body mode).
    timings: seconds per stage.
    """

    image: LoadedImage
    perception: Perception
    fit: FitResult
    silhouette_iou: float | None
    photo_render: dict[str, torch.Tensor]  # the fit seen from the photo camera: mask, shaded, normal, depth (H, W[, 3])
    timings: dict[str, float] = field(default_factory=dict)


def choose_mode(perception: Perception, min_confidence: float = 0.5) -> str:
    """`auto`: body when the torso is visible (a hip, or both shoulders and an elbow with good
    confidence), else head when a face was found."""
    names = perception.coco_names
    conf = dict(zip(names, perception.coco_confidence.tolist())) if perception.coco_confidence is not None else {}
    def ok(n: str) -> bool:
        return conf.get(n, 0.0) >= min_confidence
    torso = ok("left_hip") or ok("right_hip") or (
        ok("left_shoulder") and ok("right_shoulder") and (ok("left_elbow") or ok("right_elbow")))
    if torso:
        return "body"
    if perception.face is not None:
        return "head"
    raise NoPersonError(f"no body or face found in {perception.name}: use a photo where one "
                        "person is clearly visible")


class FitPipeline:
    """photo -> PhotoFit. Build once (loads Anny, the perception models and the renderer)."""

    def __init__(self, device: str = "cpu", body_config: FitConfig | None = None,
                 head_config: HeadFitConfig | None = None,
                 lifter: str | Path | None | Literal["shipped"] = "shipped") -> None:
        """lifter: the pose lifter folder the body fit takes limb depth from ("shipped": the
        weights humanmv ships; None: fit without one)."""
        from humanmv.models.pose_lifter import load_pose_lifter

        self.device = device
        self.body_config = body_config or FitConfig()
        self.head_config = head_config or HeadFitConfig()
        self.lifter = None if lifter is None else load_pose_lifter(None if lifter == "shipped" else lifter)
        self.body = AnnyBody(device)
        self.perceiver = Perceiver()
        self.renderer = Renderer()
        self.landmark_map = LandmarkMap.load()

    def __call__(self, image: LoadedImage, mode: FitMode = "auto", seed: int = 0,
                 perception: Perception | None = None, *, focal_mm: float | None = None,
                 K: torch.Tensor | None = None) -> PhotoFit:
        """Fit `image`. `perception` may be given when it was computed elsewhere (the CLI runs
        it in a background process while this pipeline loads); it must come from
        `perception_options(mode)`. The photo's intrinsics come from `K` (3, 3) (pixels of the
        upright photo), else `focal_mm` (35-mm equivalent), else the photo's EXIF, else the
        fit's assumed field of view (`body.photo_intrinsics.resolve_intrinsics`)."""
        if mode not in FIT_MODES:
            raise ConfigError(f"--mode must be auto, body or head, got {mode!r}")
        H, W = image.rgb.shape[:2]
        known = resolve_intrinsics(W, H, focal_mm=focal_mm, K=K, exif=image.exif_focal,
                                   name=image.path.name)  # a bad K or focal fails before the slow part
        camera = {"K": known.K, "K_source": known.source} if known is not None else {}
        timings: dict[str, float] = {}
        t = time.perf_counter()
        if perception is None:
            perception = self.perceiver.perceive(image.rgb, **perception_options(mode, image.path.name))
        timings["perceive"] = time.perf_counter() - t
        chosen = choose_mode(perception) if mode == "auto" else mode
        t = time.perf_counter()
        if chosen == "body":
            targets = FitTargets(W, H, perception.coco_xy, perception.coco_confidence, perception.mask,
                                 **camera)
            fit = fit_body(self.body, targets, dataclasses.replace(self.body_config, seed=seed),
                           lifter=self.lifter)
        else:
            if perception.face is None:
                raise NoPersonError(f"no face found in {image.path.name}: use --mode body or a "
                                    "photo where the face is visible")
            targets = FitTargets(W, H, landmarks=perception.face.xy, **camera)
            fit = fit_head(self.body, targets, self.landmark_map,
                           dataclasses.replace(self.head_config, seed=seed))
        timings["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        render = self.renderer.render(self.body.mesh(fit.vertices), fit.camera,
                                      outputs=("mask", "rgb", "normal", "depth"))
        photo_render = {"mask": render.mask[0], "shaded": render.rgb[0], "normal": render.normal[0],
                        "depth": render.depth[0]}
        iou = None
        if chosen == "body":
            person = torch.from_numpy(perception.mask > 0.5)
            fitted = render.mask[0] > 0.5
            iou = float((person & fitted).sum() / (person | fitted).sum().clamp_min(1))
        timings["render_photo_view"] = time.perf_counter() - t
        return PhotoFit(image, perception, fit, iou, photo_render, timings)

    def fit_views(self, photo_fit: PhotoFit, size: int = 512) -> tuple[Cameras, torch.Tensor]:
        """Normal maps of the fit from the front, left, back and right: cameras and
        (4, H, W, 3) images in [0, 1] ((n + 1) / 2, camera space; background 0)."""
        verts = photo_fit.fit.vertices
        if photo_fit.fit.mode == "head":
            verts = verts[self.body.portrait_vertex_mask(verts)]
        cams = orbit_cameras_around(verts, FIT_VIEW_AZIMUTHS, 0.0, fov_deg=30.0, width=size,
                                    height=size, names=list(FIT_VIEW_NAMES))
        maps = render_normal_maps(self.body.mesh(photo_fit.fit.vertices), cams, self.renderer, background=0.0)
        return cams, maps.permute(0, 2, 3, 1)


def overlay_image(photo: np.ndarray, shaded: torch.Tensor, mask: torch.Tensor, alpha: float = 0.6) -> np.ndarray:
    """The photo (H, W, 3) uint8 with the fitted mesh's shading blended in where it covers."""
    base = photo.astype(np.float32) / 255
    tint = shaded.numpy() * np.array([0.55, 0.8, 1.0], np.float32)  # bluish, to stand out
    m = mask.numpy()[..., None] * alpha
    return ((base * (1 - m) + tint * m) * 255).round().clip(0, 255).astype(np.uint8)


def fit_summary(pf: PhotoFit, body: AnnyBody) -> dict:
    """The JSON-ready content of fit.json."""
    H, W = pf.image.rgb.shape[:2]
    fit = pf.fit
    summary = {
        "mode": fit.mode,
        "image": {"path": str(pf.image.path), "width": W, "height": H},
        "camera": fit.camera.to_json()[0],
        "intrinsics": _intrinsics_summary(fit, W, H),
        "params": fit.params.to_dict(body.expression_names),
        "losses": {k: round(v, 6) for k, v in fit.losses.items()},
        "metrics": {},
        "timings_s": {k: round(v, 3) for k, v in pf.timings.items()},
    }
    if fit.mode == "body":
        conf = pf.perception.coco_confidence
        err = np.linalg.norm(fit.keypoints_2d.numpy() - pf.perception.coco_xy, axis=1)
        used = fit.used_keypoints.numpy() if fit.used_keypoints is not None else conf >= FitConfig().min_confidence
        summary["metrics"]["keypoint_error_px"] = round(float(err[used].mean()), 3) if used.any() else None
        summary["metrics"]["silhouette_iou"] = round(pf.silhouette_iou, 4)
        # Parts the photo did not show were held at the neutral pose, not fitted.
        summary["parts_seen"] = dict(fit.seen_parts)
    else:
        err = np.linalg.norm(fit.keypoints_2d.numpy() - pf.perception.face.xy, axis=1)
        box = pf.perception.face.box
        summary["metrics"]["landmark_error_px"] = round(float(err.mean()), 3)
        summary["metrics"]["landmark_error_face_box"] = round(
            float(err.mean() / max(box[2] - box[0], box[3] - box[1])), 5)
    return summary


def _intrinsics_summary(fit: FitResult, width: int, height: int) -> dict:
    """fit.json's "intrinsics": where the photo camera's K came from, its numbers (pixels) and
    its 35-mm-equivalent focal length (mm, by the diagonal: `body.photo_intrinsics`)."""
    K = fit.camera.K[0]
    return {"source": fit.intrinsics_source, "fx": round(float(K[0, 0]), 3), "fy": round(float(K[1, 1]), 3),
            "cx": round(float(K[0, 2]), 3), "cy": round(float(K[1, 2]), 3),
            "focal_35mm_equivalent": round(focal_35mm_equivalent(K, width, height), 3)}


def save_fit_outputs(pipe: FitPipeline, pf: PhotoFit, out_dir: Path, size: int = 512) -> list[Path]:
    """Write fit.json, overlay.png and normals/{front,left,back,right}.png into `out_dir`."""
    import json

    written = []
    overlay = overlay_image(pf.image.rgb, pf.photo_render["shaded"], pf.photo_render["mask"])
    written.append(save_png(out_dir / "overlay.png", overlay))
    cams, normals = pipe.fit_views(pf, size)
    (out_dir / "normals").mkdir(exist_ok=True)
    for name, img in zip(cams.names, normals):
        written.append(save_png(out_dir / "normals" / f"{name}.png", img.numpy()))
    summary = fit_summary(pf, pipe.body)
    summary["normal_cameras"] = cams.to_json()
    path = out_dir / "fit.json"
    path.write_text(json.dumps(summary, indent=1))
    written.append(path)
    return written
