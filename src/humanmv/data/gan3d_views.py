"""Single views of a synthetic dataset, framed for 3DHumanGAN: one item per (subject, view).

    ds = GAN3DViews("data/body-train-clothed", body, height=128, width=64, split="train",
                    exclude_pose_families=("walking",))
    item = ds[0]     # rgb [3, 128, 64] in [-1, 1] on white, mask, labels, the cropped camera, the posed body

Framing (`portrait_box`, the same rule for every view): the box of the view's mask (person,
garments and hair), centred, its height times `margin` (or more, when the person is wider than
the portrait's aspect allows: a T-pose), W / H as wide. Outside the photo is background. The
camera is cropped the same way (`Cameras.cropped`: K shifted and scaled), so the posed body
rendered with the item's camera lands on the person.

Labels ([H, W] int64): -1 background, else a body part 0..15 (`PART_NAMES`), what the
discriminator's 2 + 16 classes take. Each pixel takes the class that covers most of its
footprint; garment and hair classes (16..21, `shells.labels`) become the body part they cover:
the part of the posed Anny body rendered at that pixel, or where the body is not there (a
skirt's hem, long hair) the part of the nearest body pixel. Labels are >= 0 exactly where the
mask is >= 0.5. `body_labels` is the bare body's part map at the item's camera: what the
generator is conditioned on, and the target of its images in the segmentation GAN loss.

The body goes out as posed vertices + per-vertex blend matrices (they collate; the recipe
builds `PosedBody` and the shell samples from them with its own Renderer). This dataset caches
each subject's posed body and renders the body labels with the GL renderer, so it is read in
the process that made it (DataLoader num_workers=0) or in a spawned one: Mesa's llvmpipe
waits forever on its rasteriser threads in a forked child, so a forked worker gets a
RuntimeError instead of a hang.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from humanmv.body.anny_model import PART_NAMES, BodyParams
from humanmv.cameras import Cameras
from humanmv.data.engine import POSE_FAMILIES
from humanmv.data.format import finished_subjects, read_subject
from humanmv.errors import ConfigError
from humanmv.models.inputs import crop_box
from humanmv.shells.labels import LABEL_NAMES

CROP_MARGIN = 1.1  # the crop's height over the person's (mask box) height
NUM_PARTS = len(PART_NAMES)


def select_subjects(root: str | Path, split: str | None = "train", exclude_pose_families: Sequence[str] = (),
                    pose_families: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(name, pose family) of the finished subjects of `split` (None: all) whose meta.json
    "pose_family" is in `pose_families` (None: any) and not in `exclude_pose_families`, in
    manifest order. ConfigError (one line) for an unknown family or when none is left."""
    for family in [*exclude_pose_families, *(pose_families or ())]:
        if family not in POSE_FAMILIES:
            raise ConfigError(f"unknown pose family {family!r}; choose from {', '.join(POSE_FAMILIES)}")
    root = Path(root)
    chosen = []
    for name in finished_subjects(root, split):
        family = json.loads((root / "subjects" / name / "meta.json").read_text()).get("pose_family", "")
        if family not in exclude_pose_families and (pose_families is None or family in pose_families):
            chosen.append((name, family))
    if not chosen:
        rule = (f" with pose families {list(pose_families)}" if pose_families is not None else "") + \
               (f" after excluding {list(exclude_pose_families)}" if exclude_pose_families else "")
        raise ConfigError(f"{root}: no {split or 'finished'} subjects{rule}; write more with `humanmv synth` "
                          "or hold out fewer pose families")
    return chosen


def portrait_box(mask: torch.Tensor, height: int, width: int, margin: float = CROP_MARGIN) -> tuple[float, ...]:
    """(H, W) mask -> (x0, y0, box_w, box_h) pixels: a box of aspect width / height centred on
    the mask's bounding box, margin x the person's height (or its width x height / width when
    that is larger). ValueError on an empty mask (every synthetic view shows its subject)."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(xs) == 0:
        raise ValueError("portrait_box: the person mask is empty")
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()) + 1, float(ys.min()), float(ys.max()) + 1
    box_h = margin * max(y1 - y0, (x1 - x0) * height / width)
    box_w = box_h * width / height
    return (x0 + x1) / 2 - box_w / 2, (y0 + y1) / 2 - box_h / 2, box_w, box_h


def portrait_crop(rgb: torch.Tensor, mask: torch.Tensor, box: tuple[float, ...], height: int, width: int,
                  extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A photo or view cut to the GAN's portrait: rgb [h, w, 3] in [0, 1], mask [h, w] (and
    extra [K, h, w], e.g. per-class coverage) -> (rgb [3, H, W] in [-1, 1] over white, mask
    [1, H, W], extra [K, H, W] or None). Colour is resampled premultiplied by the mask, so no
    background bleeds into the person; outside the source is background (0)."""
    layers = [(rgb * mask[..., None]).permute(2, 0, 1), mask[None]] + ([extra] if extra is not None else [])
    cut = crop_box(torch.cat(layers)[None].float(), box, height, width)[0]
    alpha = cut[3:4].clamp(0, 1)
    return (cut[:3] + (1 - alpha)).clamp(0, 1) * 2 - 1, alpha, (cut[4:] if extra is not None else None)


def _nearest_labels(targets: torch.Tensor, sources: torch.Tensor, source_labels: torch.Tensor) -> torch.Tensor:
    """[N] labels of the nearest of the [M, 2] source pixels to each [N, 2] target pixel
    (chunked, so a paper-size image needs no N x M matrix)."""
    out = []
    for chunk in targets.split(2048):
        out.append(source_labels[torch.cdist(chunk, sources).argmin(1)])
    return torch.cat(out) if out else source_labels[:0]


def part_labels(coverage: torch.Tensor, mask: torch.Tensor, body_labels: torch.Tensor) -> torch.Tensor:
    """The item's label map [H, W]: -1 where mask [H, W] < 0.5, else the dominant class of
    coverage [len(LABEL_NAMES), H, W] with garment / hair classes (and any person pixel no class
    covers) replaced by the body part under them in body_labels [H, W] (-1 off the body), or by
    the nearest body pixel's part where the body is not there."""
    person = mask >= 0.5
    labels = torch.where(person & (coverage.amax(0) > 0), coverage.argmax(0), torch.full_like(body_labels, -1))
    labels = torch.where(person, labels, torch.full_like(labels, -1))
    todo = person & ((labels < 0) | (labels >= NUM_PARTS))
    labels = torch.where(todo & (body_labels >= 0), body_labels, labels)
    todo &= body_labels < 0
    if todo.any():
        on_body = torch.nonzero(body_labels >= 0).float()
        assert len(on_body), "the body is nowhere in the crop, so garments cannot be given a part"
        where = torch.nonzero(todo)
        labels[where[:, 0], where[:, 1]] = _nearest_labels(where.float(), on_body, body_labels[body_labels >= 0])
    return labels


class GAN3DViews(Dataset):
    """Views of the subjects `select_subjects` picks, one item per (subject, view), subject
    major; rig views only unless include_input. Deterministic: an item depends on its index only.

    Item (H x W = height x width, V = Anny's vertices, P = len(POSE_BONES)):
        rgb [3, H, W] float32 in [-1, 1], composited on white; mask [1, H, W] in [0, 1];
        labels [H, W] int64 -1..15; body_labels [H, W] int64 -1..15 (module docstring);
        K [3, 3], world_to_cam [4, 4]: the cropped camera, at H x W;
        vertices [V, 3], blend [V, 4, 4]: the posed body and its rest -> posed LBS matrices;
        pose [P, 3], phenotype [6], expression [E]: its BodyParams row;
        subject, view, pose_family: str.
    """

    def __init__(self, root: str | Path, body, height: int, width: int, split: str | None = "train",
                 exclude_pose_families: Sequence[str] = (), pose_families: Sequence[str] | None = None,
                 margin: float = CROP_MARGIN, include_input: bool = False, renderer=None) -> None:
        self.root, self.body, self.height, self.width, self.margin = Path(root), body, height, width, margin
        self.subjects = select_subjects(root, split, tuple(exclude_pose_families), pose_families)
        self.items: list[tuple[int, int]] = []
        self.cameras: list[Cameras] = []
        for s, (name, _) in enumerate(self.subjects):
            cams = Cameras.load(self.root / "subjects" / name / "cameras.json")
            self.cameras.append(cams)
            self.items += [(s, v) for v, n in enumerate(cams.names) if include_input or n != "input"]
        self._renderer, self._owner = renderer, os.getpid()
        self._posed: dict[int, tuple[BodyParams, torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> dict:
        # Pickled for a spawned process: no GL objects travel, and that process may render.
        return {**self.__dict__, "_renderer": None, "_owner": None}

    @property
    def renderer(self):
        if self._owner is not None and self._owner != os.getpid():
            raise RuntimeError("GAN3DViews renders with OpenGL, which hangs in a forked DataLoader worker; "
                               "read it with num_workers=0 (or workers started by spawn)")
        if self._renderer is None:
            from humanmv.render import Renderer

            self._renderer, self._owner = Renderer(), os.getpid()
        return self._renderer

    def posed(self, s: int) -> tuple[BodyParams, torch.Tensor, torch.Tensor]:
        """(params, vertices [V, 3], blend [V, 4, 4]) of subject s, posed once and cached."""
        if s not in self._posed:
            from humanmv.models.gan3d.body_rays import PosedBody

            meta = json.loads((self.root / "subjects" / self.subjects[s][0] / "meta.json").read_text())
            params = BodyParams.from_dict(meta["body"], self.body.expression_names)
            posed = PosedBody.from_anny(self.body, params)
            self._posed[s] = params, posed.vertices, posed.blend
        return self._posed[s]

    def __getitem__(self, index: int) -> dict:
        from humanmv.models.gan3d.body_rays import PosedBody, render_labels

        renderer = self.renderer  # first: a forked worker stops here, before any other work
        s, v = self.items[index]
        name, family = self.subjects[s]
        H, W = self.height, self.width
        view = read_subject(self.root / "subjects" / name, layers=("rgb", "mask", "labels"), views=[v])
        box = portrait_box(view.mask[0], H, W, self.margin)
        cams = view.cameras.cropped([box], W, H)
        raw = view.labels[0]
        coverage = F.one_hot(raw.clamp_min(0), len(LABEL_NAMES)).permute(2, 0, 1).float() * (raw >= 0)
        rgb, mask, coverage = portrait_crop(view.rgb[0], view.mask[0], box, H, W, extra=coverage)
        params, vertices, blend = self.posed(s)
        posed = PosedBody(vertices, blend, self.body.faces, self.body.face_labels)
        body_labels = render_labels(posed, cams, renderer)[0]
        return {
            "rgb": rgb,
            "mask": mask,
            "labels": part_labels(coverage, mask[0], body_labels),
            "body_labels": body_labels,
            "K": cams.K[0], "world_to_cam": cams.world_to_cam[0],
            "vertices": vertices, "blend": blend,
            "pose": params.pose[0], "phenotype": params.phenotype[0], "expression": params.expression[0],
            "subject": name, "view": view.cameras.names[0], "pose_family": family,
        }


def batch_cameras(batch: dict, height: int, width: int) -> Cameras:
    """The B cameras of a collated batch (K [B, 3, 3], world_to_cam [B, 4, 4]) at height x width, CPU."""
    return Cameras(batch["K"].detach().float().cpu(), batch["world_to_cam"].detach().float().cpu(), width, height)


__all__ = ["GAN3DViews", "select_subjects", "portrait_box", "portrait_crop", "part_labels",
           "batch_cameras", "CROP_MARGIN"]
