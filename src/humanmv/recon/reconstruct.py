"""The reconstruct stage: a generator's views -> the avatar -> views that agree with it.

Modes (`--reconstruct`, each generator has a default):
- "none":    the photo fit's textured avatar is the avatar; the generator's views are kept
             as they are (layers it did not make, e.g. normals, are rendered from the avatar).
- "texture": the views and the photo are fused into the avatar's UV texture
             (`fuse_views_into_texture`), then the avatar is rendered at every camera.
- "refit":   first the body is refitted to the views' silhouettes (`refit_body_to_views`:
             pose, shape and a rigid placement), then "texture" on the refitted body.
- "surface": clothes and hair as geometry (`recon.surface.fit_surface`): body-surface offsets
             and the garment/hair shells the silhouettes call for, fitted to the photo's mask
             and to every generated view that does not merely repeat the avatar, on the
             photo fit's pose; then the photo and those views are fused into the texture of
             the dressed surface.

After "texture" or "refit" every output view is a render of the one textured mesh, so the views
agree from view to view by construction and avatar.glb is exactly what they show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from humanmv.errors import ConfigError
from humanmv.eval.image_metrics import mask_iou
from humanmv.options import option
from humanmv.recon.avatar import Avatar
from humanmv.recon.body_refit import RefitConfig, RefitResult, refit_body_to_views
from humanmv.recon.surface import SurfaceConfig, fit_surface
from humanmv.recon.texture_fusion import FusionConfig, fuse_views_into_texture
from humanmv.views import Views

RENDERED_LAYERS = ("mask", "rgb", "normal", "depth")
RECONSTRUCT_MODES = ("none", "texture", "refit", "surface")


def check_reconstruct_mode(mode: str) -> str:
    """`mode` when this build can run it; a one-line ConfigError otherwise."""
    if mode not in RECONSTRUCT_MODES:
        raise ConfigError(f"--reconstruct must be one of {', '.join(RECONSTRUCT_MODES)}, got {mode!r}")
    return mode


@dataclass
class ReconstructOptions:
    """Options of the reconstruct stage (`--opt reconstruct.KEY=VALUE`); the defaults scored
    best on validation subjects (`benchmarks/mvdiff_fusion.py`)."""

    photo_trust: float = option(16.0, "weight of the photo against one generated view in the texture fusion",
                                minimum=0.0)
    sharpness: float = option(2.0, "exponent on the facing cosine in the fusion (higher: the most frontal "
                              "view wins)", minimum=0.0)
    face_trust: float = option(16.0, "weight of a face-stage-refined face against one generated view (the "
                               "photo's squarely seen face texels are kept whatever it is)", minimum=0.0)
    hue_sigma: float = option(8.0, "distrust generated colour whose hue (a*b*) is this far beyond 6 from the "
                              "prior's completion at the texel (0: off)", minimum=0.0)
    hue_radius: float = option(0.0, "keep generated lightness but pull generated hue (a*b*) to within this of the "
                               "prior's completion at the texel (< 0: off)")
    refit_iterations: int = option(40, "Adam steps of the body refit", minimum=0, maximum=10000)
    surface_iterations: int = option(80, "Adam steps of the surface offsets (each candidate shell: 15 more)",
                                     minimum=0, maximum=10000)


@dataclass
class Reconstruction:
    """avatar: the exported avatar. views: the output views (renders of `avatar` unless the
    mode is "none"). refit: the body refit, when one ran. timings: seconds per step."""

    avatar: Avatar
    views: Views
    refit: RefitResult | None = None
    timings: dict[str, float] | None = None


def reconstruct_avatar(views: Views, subject, mode: str, options: ReconstructOptions | None = None,
                       renderer=None, body=None) -> Reconstruction:
    """Run the reconstruct stage `mode` on a generator's `views` of `subject`
    (pipelines.subject.Subject). renderer: the renderer; body: the Anny model (refit)."""
    o = options or ReconstructOptions()
    timings: dict[str, float] = {}
    check_reconstruct_mode(mode)
    avatar = Avatar.of_fit(subject.mode, subject.avatar, subject.body_params)
    if mode == "none":
        return Reconstruction(avatar, _with_rendered_layers(views, avatar, renderer), None, timings)

    refit = None
    evidence: Views | None = views
    if mode == "refit":
        t = time.perf_counter()
        refit, avatar = refit_avatar(views, subject, body, o)
        timings["refit"] = time.perf_counter() - t
    if mode == "surface":
        # No body refit first: a refit to clothed silhouettes spreads and fattens the body to
        # fill a skirt, which the shells are there to fill.
        t = time.perf_counter()
        evidence = views_with_evidence(views, avatar, renderer)
        avatar = dress_avatar(evidence, subject, avatar, body, renderer, o)
        timings["surface"] = time.perf_counter() - t
    t = time.perf_counter()
    faces = refined_faces(views, subject, body, renderer)
    avatar, out = fuse_into_avatar(views, subject, avatar, renderer, o, sources=evidence, faces=faces)
    timings["fuse"] = time.perf_counter() - t
    return Reconstruction(replace(avatar, reconstruct=mode), out, refit, timings)


def refit_avatar(views: Views, subject, body, options: ReconstructOptions) -> tuple[RefitResult, Avatar]:
    """The subject's avatar with the body refitted to the views' silhouettes."""
    if body is None or subject.body_params is None or subject.targets is None:
        raise ValueError("the refit needs the body model and the subject's fit (body_params, targets)")
    refit = refit_body_to_views(body, subject.body_params, subject.photo_camera, subject.targets, views.mask,
                                views.cameras, RefitConfig(iterations=options.refit_iterations))
    avatar = Avatar(subject.mode, replace(subject.avatar, vertices=refit.vertices), refit.params, refit.rotation,
                    refit.translation, refit.centre, "refit")
    return refit, avatar


EVIDENCE_IOU = 0.97  # a view whose mask agrees this well with the avatar's says nothing new
SURFACE_VIEWS = 8  # the surface is fitted to at most this many evidence views, spread over them


def views_with_evidence(views: Views, avatar: Avatar, renderer) -> Views | None:
    """The views whose masks say something the avatar does not (IoU with its own render below
    `EVIDENCE_IOU`), or None: a prior's views are renders of the avatar itself."""
    own = renderer.render(avatar.mesh, views.cameras, outputs=("mask",)).mask
    carries = mask_iou(own, views.mask) < EVIDENCE_IOU
    return views[torch.nonzero(carries)[:, 0].tolist()] if bool(carries.any()) else None


def dress_avatar(evidence: Views | None, subject, avatar: Avatar, body, renderer,
                 options: ReconstructOptions) -> Avatar:
    """The avatar with surface offsets and shells fitted to the photo's mask and to the
    `evidence` views (`views_with_evidence`; at most `SURFACE_VIEWS` of them, spread evenly
    over their order: the stage's time grows with every view)."""
    if body is None or avatar.params is None or subject.targets is None:
        raise ValueError("the surface stage needs the body model and the subject's fit (body_params, targets)")
    used = [] if evidence is None else sorted({round(float(x)) for x in
                                               torch.linspace(0, len(evidence) - 1, min(len(evidence), SURFACE_VIEWS))})
    pairs = [(evidence.cameras[[i]], evidence.mask[i]) for i in used]
    result = fit_surface(body, avatar.params, (avatar.rotation, avatar.translation, avatar.centre),
                         subject.photo_camera, subject.targets, renderer, pairs,
                         SurfaceConfig(iterations=options.surface_iterations))
    return avatar.dressed(result)


def refined_faces(views: Views, subject, body, renderer) -> Views | None:
    """The views a face stage refined (`views.meta["face_stage"]["refined_views"]`) with their
    masks cut to the face (the fitted body's face regions, as the stage pasted them); None when
    no face was refined."""
    refined = (views.meta.get("face_stage") or {}).get("refined_views") or []
    if not refined or body is None:
        return None
    from humanmv.body.face_regions import face_regions

    part = views[refined]
    regions = face_regions(body, subject.avatar.vertices, part.cameras, renderer, max_angle=180.0)
    return part.replace(mask=part.mask * regions.masks.to(part.mask))


def fuse_into_avatar(views: Views, subject, avatar: Avatar, renderer, options: ReconstructOptions, *,
                     sources: Views | None, faces: Views | None = None) -> tuple[Avatar, Views]:
    """Fuse `sources` (usually `views` themselves; None: the photo alone), the photo and the
    refined `faces` (`refined_faces`: trusted like the photo, `options.face_trust`) into
    `avatar`'s texture; returns the new avatar and its renders at `views`' cameras."""
    photo = Views(subject.photo_camera, rgb=subject.photo[None], mask=subject.person_mask[None])
    groups, trust = ([sources, photo], [1.0, options.photo_trust]) if sources is not None else ([photo], [1.0])
    # The photo's own face texels stay: a generated face fills only what the photo saw poorly.
    keep = subject.photo_face
    if keep is not None and avatar.mesh.texture is not None and keep.shape != avatar.mesh.texture.shape[:2]:
        keep = None  # a texture of another size (a surface's own charts): no lock to map
    # The photo is never doubted.
    hue = [options.hue_sigma or None, None] if sources is not None else [None]
    radius = [options.hue_radius if options.hue_radius >= 0 else None, None] if sources is not None else [None]
    if faces is not None and sources is not None:
        groups, trust, hue, radius = groups + [faces], trust + [options.face_trust], hue + [None], radius + [None]
    fused = fuse_views_into_texture(avatar.mesh, groups, renderer, trust=trust,
                                    config=FusionConfig(sharpness=options.sharpness), keep_base=keep, hue_sigma=hue,
                                    hue_radius=radius)
    avatar = avatar.with_texture(fused.texture)
    out = renderer.render(avatar.mesh, views.cameras, outputs=RENDERED_LAYERS)
    return avatar, Views.from_render(views.cameras, out, meta=views.meta)


def _with_rendered_layers(views: Views, avatar: Avatar, renderer) -> Views:
    """`views` with the normal and depth layers it lacks rendered from the avatar."""
    missing = [n for n in ("normal", "depth") if getattr(views, n) is None]
    if not missing:
        return views
    out = renderer.render(avatar.mesh, views.cameras, outputs=tuple(missing))
    return views.replace(**{n: getattr(out, n) for n in missing})
