"""FaceRefinePipeline: the face region of every generated view refined by the face stage's
multi-view UNet (seed 000, stage 2), then pasted back.

    pipe = FaceRefinePipeline.from_pretrained("weights/face-small", body, renderer)
    refined, report = pipe(views, subject, FaceRefineConfig(), seed=0)

`__call__` reads top to bottom:
1. where the face is: the fitted head's face box and mask in every view (`body.face_regions`,
   visible up to `max_angle`) and in the photo; no face in the photo -> views unchanged;
2. the crops at the model's size: the views' faces (the coarse input and the 3D-aware start),
   the fitted head's normals, face mask and landmark heatmaps rendered in each crop's own camera
   (the 3D face-structure maps), the photo's face crop with its maps (the reference stream);
3. the tokens: dlib's embedding of the photo's face (2D identity) and the fitted face shape
   (phenotype + facial actions), either switched off by `use_identity` / `use_shape` (the
   ablation rows; `use_shape` off also blanks the normal and landmark maps);
4. joint denoising of all face crops (cross-view attention), started from the coarse crops
   noised to `strength` (`pipelines.mvdiff.MVDiffPipeline`, the one sampler);
5. paste back: RGB only, feathered by the face mask (nothing outside the face changes);
   with `view_colour` > 0 the refined crops keep the views' own colours below a blur of that
   share of the crop side (`keep_low_frequencies`: the model adds the face's detail, the views
   keep the shading and colour they were fused with).

Views are in the stage layout (`humanmv.views`); crops are [N, 4, s, s] RGBA on white.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from humanmv.body.face_regions import gaussian_blur
from humanmv.models.camera import camera_features
from humanmv.models.face_unet import FaceStageModel
from humanmv.pipelines.mvdiff import MVDiffPipeline
from humanmv.views import Views


@dataclass
class FaceRefineConfig:
    """Sampler settings and stream switches of the face stage (defaults work)."""

    steps: int = 20
    strength: float = 0.6
    guidance_scale: float = 1.0
    max_angle: float = 100.0
    use_identity: bool = True
    use_shape: bool = True
    feather: float = 0.04
    view_colour: float = 0.0  # > 0: keep the views' colours below this blur (x the crop side); 0: off


@dataclass
class FaceRefineReport:
    """What the stage did: refined (view indices), skipped (why, or None), identity_used."""

    refined: list[int]
    skipped: str | None = None
    identity_used: bool = False

    def to_dict(self) -> dict:
        return {"refined_views": self.refined, "skipped": self.skipped, "identity_used": self.identity_used}


def rgba_on_white(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """rgb [..., H, W, 3] (0 on the background) + mask [..., H, W] -> [..., H, W, 4] on white."""
    m = mask[..., None]
    return torch.cat([rgb * m + (1 - m), m], dim=-1)


def blank_maps(normal: torch.Tensor, extra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3D face-structure maps switched off: white normals, zero mask and landmarks (the
    values the model was trained with when the stream was dropped)."""
    return torch.ones_like(normal), torch.zeros_like(extra)


def switch_streams(crops: dict, identity: bool = True, shape: bool = True) -> dict:
    """A copy of `crops` (the `data.face_views.FaceCropViews` item layout) with the identity
    stream (has_identity False) and/or the 3D face-structure stream (has_shape False, blank
    normal, mask and landmark maps, the reference's too) switched off."""
    out = dict(crops)
    out["has_identity"] = bool(crops["has_identity"]) and identity
    out["has_shape"] = bool(crops.get("has_shape", True)) and shape
    if not out["has_shape"]:
        out["normal"], out["extra"] = blank_maps(crops["normal"], crops["extra"])
        ref_normal, out["reference_extra"] = blank_maps(crops["reference_conditions"][4:7], crops["reference_extra"])
        out["reference_conditions"] = torch.cat([crops["reference_conditions"][:4], ref_normal])
    return out


@torch.no_grad()
def refine_face_crops(model: FaceStageModel, crops: dict, steps: int = 20, strength: float = 0.6,
                      guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                      sampler: MVDiffPipeline | None = None) -> torch.Tensor:
    """The model's faces [N, 4, s, s] in [0, 1] for crops in the `FaceCropViews` item layout
    (reference [4, s, s], reference_conditions [7, s, s], reference_extra [8, s, s], coarse
    [N, 4, s, s], normal [N, 3, s, s], extra [N, 8, s, s], camera [N, 12], identity [128],
    has_identity, shape [6 + E], optional has_shape): tokens, then joint denoising from the
    coarse crops noised to `strength` (sampler: an MVDiffPipeline on model.unet, made if None)."""
    sampler = sampler or MVDiffPipeline(model.unet)
    device = next(model.parameters()).device
    flag = lambda key: torch.tensor([bool(crops.get(key, True))], device=device)  # noqa: E731
    tokens = model.extra_tokens(crops["identity"].float()[None].to(device), flag("has_identity"),
                                crops["shape"].float()[None].to(device), flag("has_shape"))[0]
    return sampler(crops["reference"], crops["reference_conditions"], crops["coarse"], crops["normal"],
                   crops["camera"], num_inference_steps=steps, guidance_scale=guidance_scale, strength=strength,
                   generator=generator, extra_tokens=tokens, extra_conditions=crops["extra"],
                   reference_extra_conditions=crops["reference_extra"])


def keep_low_frequencies(refined: torch.Tensor, views: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, 3, s, s] refined crops with their band below a `sigma`-pixel blur replaced by the
    views' own ([N, 3, s, s]): detail from the model, colour and shading from the views."""
    return (refined - gaussian_blur(refined, sigma) + gaussian_blur(views, sigma)).clamp(0, 1)


class FaceRefinePipeline:
    """The face stage around a FaceStageModel (module docstring)."""

    def __init__(self, model: FaceStageModel, scheduler_config: dict | None, body, renderer) -> None:
        self.model = model.eval()
        self.sampler = MVDiffPipeline(model.unet, scheduler_config)
        self.body, self.renderer = body, renderer
        self.size = model.config.sample_size
        self._identifier = None

    def crop_identity(self, crop: torch.Tensor) -> torch.Tensor | None:
        """dlib's 128-D embedding of a face crop [3, s, s] in [0, 1], or None when dlib finds
        no face there (the identifier is loaded on first use)."""
        from humanmv.eval.identity_metrics import to_uint8_rgb

        if self._identifier is None:
            from humanmv.perception.identity import FaceIdentifier

            self._identifier = FaceIdentifier()
        found = self._identifier.identify(to_uint8_rgb(crop), name="the photo's face crop")
        return None if found is None else torch.as_tensor(found.embedding, dtype=torch.float32)

    @classmethod
    def from_pretrained(cls, folder: str | Path, body, renderer) -> "FaceRefinePipeline":
        return cls(FaceStageModel.from_pretrained(folder), FaceStageModel.scheduler_config(folder), body, renderer)

    @torch.no_grad()
    def __call__(self, views: Views, vertices: torch.Tensor, photo: torch.Tensor, person_mask: torch.Tensor,
                 photo_camera, shape: torch.Tensor, identity: torch.Tensor | None,
                 config: FaceRefineConfig | None = None, seed: int = 0) -> tuple[Views, FaceRefineReport]:
        """views (C views); vertices [V, 3] the fitted body in the views' world frame; photo
        [H, W, 3] in [0, 1] and person_mask [H, W]; photo_camera (1 view); shape [6 + E]
        phenotype + facial actions; identity [128] dlib's embedding of the photo's face, or None:
        then dlib runs on the photo's face crop (as the training items' identities were made).
        Returns the views with their faces refined, and what was done."""
        from humanmv.body.face_conditions import face_conditions
        from humanmv.body.face_regions import face_regions
        from humanmv.data.face_views import condition_maps

        c = config or FaceRefineConfig()
        s = self.size
        # 1. where the face is, in the views and in the photo
        regions = face_regions(self.body, vertices, views.cameras, self.renderer, max_angle=c.max_angle)
        source = face_regions(self.body, vertices, photo_camera, self.renderer, max_angle=c.max_angle)
        if not source.visible[0]:
            return views, FaceRefineReport([], skipped="the photo does not show the fitted face")
        index = regions.indices
        if not index:
            return views, FaceRefineReport([], skipped="no view shows the face")

        # 2. crops: coarse faces, 3D face-structure maps, the reference stream
        coarse = regions.crop(rgba_on_white(views.rgb, views.mask), s).permute(0, 3, 1, 2).clamp(0, 1)
        cams = regions.crop_cameras(views.cameras, s)
        normal, extra = condition_maps(face_conditions(self.body, vertices, cams, self.renderer))
        reference = source.crop(rgba_on_white(photo[None], person_mask[None]), s)[0].permute(2, 0, 1).clamp(0, 1)
        ref_normal, ref_extra = condition_maps(face_conditions(self.body, vertices, source.crop_cameras(photo_camera, s),
                                                               self.renderer))
        # 3. the identity is dlib's on the photo's face crop, as in training
        if identity is None and c.use_identity:
            identity = self.crop_identity(reference[:3])
        crops = {"reference": reference, "reference_conditions": torch.cat([reference, ref_normal[0]]),
                 "reference_extra": ref_extra[0], "coarse": coarse, "normal": normal, "extra": extra,
                 "camera": camera_features(views.cameras.world_to_cam[index], photo_camera.world_to_cam[0]),
                 "identity": torch.zeros(128) if identity is None else identity.float(),
                 "has_identity": identity is not None, "shape": shape}
        crops = switch_streams(crops, identity=c.use_identity, shape=c.use_shape)

        # 4. joint denoising from the coarse crops
        refined = refine_face_crops(self.model, crops, c.steps, c.strength, c.guidance_scale,
                                    torch.Generator().manual_seed(seed), self.sampler)

        # 5. paste back the RGB inside each face mask
        faces = refined[:, :3]
        if c.view_colour > 0:
            faces = keep_low_frequencies(faces, coarse[:, :3], c.view_colour * s)
        rgb = regions.paste(views.rgb, faces.permute(0, 2, 3, 1), feather=c.feather)
        return views.replace(rgb=rgb), FaceRefineReport(index, identity_used=bool(crops["has_identity"]))


__all__ = ["FaceRefineConfig", "FaceRefinePipeline", "FaceRefineReport", "blank_maps", "keep_low_frequencies", "refine_face_crops", "rgba_on_white", "switch_streams"]
