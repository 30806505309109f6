"""The subject: one person as known after fitting and texturing, the input of every generator.

`make_subject` is the "project" stage of the data flow: the photo's pixels are projected onto
the fitted body's UV texture and what the photo did not see is completed
(`body.avatar_texture.TextureBuilder`), giving the textured avatar the prior renders and the
learned generators start from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humanmv.body.anny_model import BodyParams
from humanmv.body.avatar_texture import TextureBuilder
from humanmv.body.fitting import FitTargets
from humanmv.cameras import Cameras
from humanmv.pipelines.fitting import PhotoFit
from humanmv.render import Mesh


@dataclass
class Subject:
    """One person, as known after fitting and texturing.

    photo: (H, W, 3) float32 [0, 1]; person_mask: (H, W) float32 [0, 1].
    mode: "body" or "head". avatar: the fitted mesh with its UV texture (world frame).
    photo_camera: the photo's camera (1 view). focus: (N, 3) world points the views frame
    (the body's or the head's vertices). body_params / targets: the fit's parameters (batch 1)
    and the photo evidence it was fitted to (keypoints, mask), for stages that refit the body
    to views; None when unknown. photo_face: (S, S) bool texels of the avatar's texture where the
    photo saw the face squarely (`TexturedAvatar.face_seen`): fusion keeps them; None: no lock.
    face_found: perception found a face in the photo (FaceMesh or dlib); face_identity: [128]
    dlib's embedding of it, None when dlib found none (the face stage's identity stream).
    """

    photo: torch.Tensor
    person_mask: torch.Tensor
    mode: str
    avatar: Mesh
    photo_camera: Cameras
    focus: torch.Tensor
    body_params: BodyParams | None = None
    targets: FitTargets | None = None
    photo_face: torch.Tensor | None = None
    face_found: bool = False
    face_identity: torch.Tensor | None = None


@dataclass
class TexturedSubject:
    """subject + texture_source: (S, S) uint8 map of where each texel came from (0 photo,
    1 mirror, 2 part, 3 inpaint)."""

    subject: Subject
    texture_source: torch.Tensor


def make_subject(photo_fit: PhotoFit, texture_builder: TextureBuilder) -> TexturedSubject:
    """Project the photo onto the fitted body's texture, complete it, and return the Subject."""
    body = texture_builder.body
    image = photo_fit.image
    photo = torch.from_numpy(image.rgb.copy()).float() / 255
    perceived = photo_fit.perception
    person = torch.from_numpy(perceived.mask).float()
    fit = photo_fit.fit
    textured = texture_builder.build(photo, person, fit.vertices, fit.camera)
    avatar = body.mesh(fit.vertices, texture=textured.texture)
    # Head mode frames a portrait (head, neck, collar, shoulders), as the photo shows them.
    focus = fit.vertices[body.portrait_vertex_mask(fit.vertices)] if fit.mode == "head" else fit.vertices
    targets = FitTargets(photo.shape[1], photo.shape[0], perceived.coco_xy, perceived.coco_confidence,
                         perceived.mask)
    identity = None if perceived.identity is None else torch.as_tensor(perceived.identity.embedding, dtype=torch.float32)
    subject = Subject(photo, person, fit.mode, avatar, fit.camera, focus, fit.params, targets, textured.face_seen,
                      face_found=perceived.face is not None or perceived.identity is not None, face_identity=identity)
    return TexturedSubject(subject, textured.filled_from)
