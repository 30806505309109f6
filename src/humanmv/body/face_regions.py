"""Where the face is in each view of a posed body: the face stage's crops and its paste-back masks.

    regions = face_regions(body, vertices, cameras, renderer)      # FaceRegions
    crops = regions.crop(views_rgb, size=128)                       # [N, 128, 128, 3], visible views
    views_rgb = regions.paste(views_rgb, refined_crops)            # feathered into each view

The face is `AnnyBody.face_vertex_mask` (brow to chin, ear to ear). Its forward direction is
the area-weighted normal of the posed face, so a turned head turns it; a view sees the face when
the angle between that direction and the direction to the camera is at most `max_angle`
(default 100 degrees: a profile and a little beyond). Its box is the square round the face's
visible pixels (centred on them, `margin` x their larger side), in view pixels; its mask is the
face's triangles rendered with the whole body as occluder (a hand raised in front of the face
removes those pixels), so pasting never spills over what hides the face.

Shapes: C views (each its own size, on the views' shared canvas H x W), N visible views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from humanmv.cameras import Cameras
from humanmv.models.inputs import crop_box
from humanmv.render import Mesh
from humanmv.render.mesh import face_normals

FACE_LABEL = 1  # the face triangles' label in the segmentation render (the rest of the body: 0)


@dataclass
class FaceRegions:
    """angle [C] degrees between the face's direction and the camera (0 = looking into it);
    visible [C] bool; boxes [C, 3] (x0, y0, side) squares in view pixels (NaN where not
    visible); masks [C, H, W] float {0, 1}: the face's unoccluded pixels."""

    angle: torch.Tensor
    visible: torch.Tensor
    boxes: torch.Tensor
    masks: torch.Tensor

    @property
    def indices(self) -> list[int]:
        """The visible views, in order: the rows of `crop` and `paste`."""
        return torch.nonzero(self.visible)[:, 0].tolist()

    def crop_cameras(self, cameras: Cameras, size: int) -> Cameras:
        """The visible views' cameras cut to their face boxes at size x size (render a face
        there at full resolution instead of upsampling its few view pixels)."""
        index = self.indices
        return cameras[index].cropped([self._box(i) for i in index], size, size)

    def crop(self, images: torch.Tensor, size: int) -> torch.Tensor:
        """[C, H, W, K] view images -> [N, size, size, K]: each visible view's face box."""
        assert images.shape[:3] == self.masks.shape, (images.shape, self.masks.shape)
        x = images.permute(0, 3, 1, 2).float()
        return torch.cat([crop_box(x[i:i + 1], self._box(i), size, size) for i in self.indices]).permute(0, 2, 3, 1)

    def paste(self, images: torch.Tensor, crops: torch.Tensor, feather: float = 0.04) -> torch.Tensor:
        """`images` [C, H, W, K] with the visible views' face pixels replaced by `crops`
        [N, s, s, K] (as `crop` cut them), blended by the face mask blurred over `feather` x the
        box side, so there is no seam. Pixels outside every face keep their values exactly."""
        assert crops.shape[0] == len(self.indices) and crops.shape[1] == crops.shape[2], crops.shape
        out = images.clone()
        H, W = self.masks.shape[1:]
        s = crops.shape[1]
        for row, i in enumerate(self.indices):
            x0, y0, side, _ = self._box(i)
            back = (-x0 * s / side, -y0 * s / side, W * s / side, H * s / side)  # the view's pixels in the crop
            pasted = crop_box(crops[row:row + 1].permute(0, 3, 1, 2).float(), back, H, W)[0].permute(1, 2, 0)
            weight = feathered(self.masks[i], feather * side)[..., None]
            out[i] = images[i] * (1 - weight) + pasted.to(images) * weight
        return out

    def _box(self, i: int) -> tuple[float, float, float, float]:
        x0, y0, side = self.boxes[i].tolist()
        return x0, y0, side, side


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None, padding: str = "reflect") -> torch.Tensor:
    """[N, K, H, W] blurred by a separable Gaussian of `sigma` pixels (radius default
    ceil(2.5 sigma); edges padded by `padding`, an F.pad mode)."""
    radius = radius or max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x)
    k = x.shape[1]
    y = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode=padding), kernel.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)
    return F.conv2d(F.pad(y, (0, 0, radius, radius), mode=padding), kernel.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)


def feathered(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """[H, W] mask in [0, 1] -> the same eroded by ~sigma and blurred by a Gaussian of `sigma`
    pixels: 1 well inside, falling to 0 at the mask's edge (never outside it)."""
    if sigma < 0.5:
        return mask.float()
    m = mask.float()[None, None]
    blurred = gaussian_blur(m, sigma, radius=max(1, math.ceil(2 * sigma)), padding="replicate")
    # Blurring spreads the mask both ways; rescaling 0.5..1 -> 0..1 keeps it inside the face.
    return ((blurred[0, 0] - 0.5) * 2).clamp(0, 1) * m[0, 0]


def face_direction(vertices: torch.Tensor, faces: torch.Tensor, face_vertices: torch.Tensor) -> torch.Tensor:
    """(3,) unit forward direction of the face: the area-weighted normal of the triangles whose
    three corners are face vertices. vertices (V, 3) posed, faces (F, 3), face_vertices (V,) bool."""
    on_face = face_vertices[faces].all(dim=1)
    normal = face_normals(vertices, faces[on_face], unit=False).sum(0)
    return normal / normal.norm().clamp_min(1e-12)


@torch.no_grad()
def face_regions(body, vertices: torch.Tensor, cameras: Cameras, renderer, max_angle: float = 100.0,
                 margin: float = 1.3, min_pixels: int = 16) -> FaceRegions:
    """The face's angle, box and mask in every view of the posed body `vertices` [V, 3]
    (module docstring). A view whose unoccluded face covers fewer than `min_pixels` pixels
    counts as not visible, whatever its angle."""
    face_vertices = body.face_vertex_mask()
    forward = face_direction(vertices, body.faces, face_vertices)
    centre = vertices[face_vertices].mean(0)
    to_camera = F.normalize(cameras.centers - centre, dim=-1)
    angle = torch.rad2deg(torch.acos((to_camera @ forward).clamp(-1, 1)))
    labels = face_vertices[body.faces].all(dim=1).long() * FACE_LABEL
    mesh = Mesh(vertices=vertices.detach().float(), faces=body.faces, face_labels=labels)
    masks = (renderer.render(mesh, cameras, outputs=("labels",)).labels.cpu() == FACE_LABEL).float()
    boxes = torch.full((len(cameras), 3), float("nan"))
    visible = (angle <= max_angle) & (masks.flatten(1).sum(1) >= min_pixels)
    for i in torch.nonzero(visible)[:, 0].tolist():
        ys, xs = torch.nonzero(masks[i], as_tuple=True)
        x_lo, x_hi, y_lo, y_hi = float(xs.min()), float(xs.max()) + 1, float(ys.min()), float(ys.max()) + 1
        side = max(x_hi - x_lo, y_hi - y_lo) * margin
        boxes[i] = torch.tensor([(x_lo + x_hi - side) / 2, (y_lo + y_hi - side) / 2, side])
    return FaceRegions(angle, visible, boxes, masks)


__all__ = ["FaceRegions", "face_direction", "face_regions", "feathered", "gaussian_blur"]
