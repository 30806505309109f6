"""`Shell`: one garment or hair piece as a skinned mesh around the Anny body, and what every
stage does with shells (pose them, dress a body mesh with them).

A shell is built at the bind pose (the subject's phenotype and expression at pose zero, world
frame: `BindBody`). Every shell vertex follows one *anchor*, the body vertex nearest it when it
was built, and takes that vertex's skinning weights: posed at Anny pose p it moves by
B(p) B(0)^-1 (B: the anchor's blend of Anny's bone matrices, `AnnyBody.skin_transforms`), so the
anchor lands exactly where Anny puts it and the offset from the anchor turns with it. A rig
takes the anchor's 4 largest weights (`rig.build_rig`).

Texture: a shell's `uvs` are its own table. Shells that offset the body's own surface (tops,
trousers, shoes, hair on the scalp) copy the body's UV layout for their faces, so they show the
texels of the body they cover; the others (skirts, hair curtains, buns, hats) get a square
*chart* in the free space of Anny's UV layout (`CHARTS`), so one texture still holds the
whole avatar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from humanmv.body.anny_model import PART_NAMES, AnnyBody, BodyParams
from humanmv.render import Mesh
from humanmv.render.mesh import vertex_normals

# Free squares of Anny's UV layout (found on its atlas at 512 texels with a 4-texel margin):
# (row, column, size) in 512ths, row 0 = the top of the texture (v = 1).
_FREE_SQUARES = ((0, 420, 89), (300, 0, 64), (0, 0, 60), (349, 166, 58), (127, 0, 57), (368, 0, 53),
                 (236, 0, 52), (0, 336, 49))
CHART_OF_KIND = {"skirt": 0, "dress": 0, "long-hair": 1, "bun": 2, "coat": 3, "ponytail": 4, "hat": 5,
                 "beanie": 6}


def chart_box(index: int) -> tuple[float, float, float, float]:
    """(u0, v0, u1, v1) of chart `index` in UV units (v up), shrunk by one texel at 512."""
    row, col, size = _FREE_SQUARES[index]
    u0, u1 = (col + 1) / 512, (col + size - 1) / 512
    v1, v0 = 1 - (row + 1) / 512, 1 - (row + size - 1) / 512
    return u0, v0, u1, v1


def to_chart(uv01: torch.Tensor, kind: str) -> torch.Tensor:
    """(N, 2) coordinates in [0, 1]^2 -> the same layout inside `kind`'s chart."""
    u0, v0, u1, v1 = chart_box(CHART_OF_KIND[kind])
    return torch.stack([u0 + uv01[:, 0] * (u1 - u0), v0 + uv01[:, 1] * (v1 - v0)], -1)


@dataclass
class Shell:
    """A garment or hair piece (see the module docstring).

    kind: what it is ("skirt", "long-hair", ...); label: its class (`shells.labels`).
    vertices: (N, 3) float32 bind positions (world, pose zero, unplaced).
    faces: (F, 3) int64; uvs: (T, 2) float32 (v up); uv_faces: (F, 3) int64 into `uvs`.
    anchors: (N,) int64 the body vertex each shell vertex follows.
    params: how it was built (JSON-ready), e.g. {"hem_y": ..., "flare": ...}.
    """

    kind: str
    label: int
    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor
    uv_faces: torch.Tensor
    anchors: torch.Tensor
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        N, F = self.vertices.shape[0], self.faces.shape[0]
        assert self.vertices.shape == (N, 3) and self.anchors.shape == (N,), "vertices (N, 3), anchors (N,)"
        assert self.faces.shape == (F, 3) and self.uv_faces.shape == (F, 3), "faces and uv_faces (F, 3)"

    def with_vertices(self, vertices: torch.Tensor) -> "Shell":
        return Shell(self.kind, self.label, vertices, self.faces, self.uvs, self.uv_faces, self.anchors,
                     dict(self.params))

    def describe(self) -> dict:
        return {"kind": self.kind, "label": self.label, "vertices": int(self.vertices.shape[0]),
                "faces": int(self.faces.shape[0]), "params": self.params}


@dataclass
class BindBody:
    """The body the shells are built on: the subject at pose zero, world frame.

    vertices, normals: (V, 3); parts: (V,) part label (`PART_NAMES`); faces (F, 3); uvs and
    uv_faces: Anny's UV layout. keypoints: name -> (3,) COCO keypoints of the bind body.
    """

    vertices: torch.Tensor
    normals: torch.Tensor
    parts: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor
    uv_faces: torch.Tensor
    keypoints: dict[str, torch.Tensor]

    @classmethod
    def of(cls, body: AnnyBody, params: BodyParams) -> "BindBody":
        zero = BodyParams(torch.zeros_like(params.pose[:1]), params.phenotype[:1], params.expression[:1])
        with torch.no_grad():
            out = body(zero)
        verts = out.vertices[0].float()
        kps = {n: out.keypoints[0, i].float() for i, n in enumerate(body.keypoint_names)}
        return cls(verts, vertex_normals(verts, body.faces), body.vertex_parts, body.faces, body.uvs,
                   body.uv_faces, kps)

    def part_mask(self, *names: str) -> torch.Tensor:
        """(V,) bool: vertices of any of the named parts (".L"/".R" added for a bare limb name)."""
        ids = [PART_NAMES.index(n) for name in names for n in (name, name + ".L", name + ".R")
               if n in PART_NAMES]
        return torch.isin(self.parts, torch.tensor(ids))

    def y(self, *names: str) -> float:
        """Mean height of the named keypoints."""
        return float(torch.stack([self.keypoints[n][1] for n in names]).mean())

    @property
    def floor_y(self) -> float:
        return float(self.vertices[:, 1].min())

    @property
    def top_y(self) -> float:
        return float(self.vertices[:, 1].max())


class ShellPoser:
    """Poses shells with the body (see the module docstring): built once per subject
    (phenotype, expression), `pose(shell, pose)` for any pose (B = 1, differentiable in the
    shell's bind vertices)."""

    def __init__(self, body: AnnyBody, params: BodyParams) -> None:
        self.body = body
        self.params = BodyParams(params.pose[:1].detach(), params.phenotype[:1].detach(),
                                 params.expression[:1].detach())
        with torch.no_grad():
            zero = BodyParams(torch.zeros_like(self.params.pose), self.params.phenotype, self.params.expression)
            self.bind_transforms = body.skin_transforms(zero)[0].double()  # (J, 4, 4)
        self.weights = body.anny.vertex_bone_weights.detach().cpu().double()  # (V, 9)
        self.bones = body.anny.vertex_bone_indices.detach().cpu().long()
        self._posed: tuple[torch.Tensor, torch.Tensor] | None = None

    def transforms(self, pose: torch.Tensor) -> torch.Tensor:
        """(J, 4, 4) float64 skinning matrices at `pose` (P, 3) (cached for the last pose)."""
        pose = pose.detach().reshape(1, -1, 3)
        if self._posed is None or not torch.equal(self._posed[0], pose):
            with torch.no_grad():
                M = self.body.skin_transforms(BodyParams(pose, self.params.phenotype, self.params.expression))
            self._posed = (pose.clone(), M[0].double())
        return self._posed[1]

    def carry(self, anchors: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """(N, 4, 4) float64 per-point transform from the bind pose to `pose` of points that
        follow `anchors` (N,)."""
        w, j = self.weights[anchors], self.bones[anchors]
        blend = lambda M: (w[..., None, None] * M[j]).sum(1)  # noqa: E731  (N, 4, 4)
        return blend(self.transforms(pose)) @ torch.linalg.inv(blend(self.bind_transforms))

    def pose_points(self, points: torch.Tensor, anchors: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """(N, 3) bind points following `anchors` -> their positions at `pose`."""
        T = self.carry(anchors, pose).to(points.dtype)
        return (T[:, :3, :3] @ points[..., None])[..., 0] + T[:, :3, 3]

    def pose(self, shell: Shell, pose: torch.Tensor) -> torch.Tensor:
        """(N, 3) the shell's vertices at `pose` (P, 3)."""
        return self.pose_points(shell.vertices, shell.anchors, pose)


def nearest_anchors(points: torch.Tensor, bind: BindBody, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) index of the nearest bind-body vertex (among `allowed` (V,) bool) to each point (N, 3)."""
    ids = torch.arange(bind.vertices.shape[0]) if allowed is None else torch.nonzero(allowed)[:, 0]
    cand = bind.vertices[ids]
    out = torch.empty(points.shape[0], dtype=torch.long)
    for s in range(0, points.shape[0], 2048):
        d = torch.cdist(points[s:s + 2048].detach().float(), cand)
        out[s:s + 2048] = ids[d.argmin(1)]
    return out


def dress_mesh(body_mesh: Mesh, shells: list[Shell], posed: list[torch.Tensor]) -> Mesh:
    """The body mesh with every shell (at its `posed` (N, 3) vertices, in the body mesh's frame)
    appended: one mesh, one texture, face labels per class. The shells come after the body, so
    a UV raster of the result (drawn in order) gives texels shared by a body face and an offset
    shell to the shell, the surface that is seen."""
    assert len(shells) == len(posed), "one posed vertex set per shell"
    verts, faces, uvs, uv_faces, labels = [body_mesh.vertices], [body_mesh.faces], [body_mesh.uvs], \
        [body_mesh.uv_faces if body_mesh.uv_faces is not None else body_mesh.faces], []
    body_labels = body_mesh.face_labels if body_mesh.face_labels is not None else \
        torch.zeros(body_mesh.faces.shape[0], dtype=torch.long)
    labels.append(body_labels)
    nv, nt = body_mesh.vertices.shape[0], body_mesh.uvs.shape[0]
    for shell, v in zip(shells, posed):
        verts.append(v.float())
        faces.append(shell.faces + nv)
        uvs.append(shell.uvs.float())
        uv_faces.append(shell.uv_faces + nt)
        labels.append(torch.full((shell.faces.shape[0],), shell.label, dtype=torch.long))
        nv += v.shape[0]
        nt += shell.uvs.shape[0]
    return Mesh(vertices=torch.cat(verts), faces=torch.cat(faces), vertex_colors=None, uvs=torch.cat(uvs),
                uv_faces=torch.cat(uv_faces), texture=body_mesh.texture, face_labels=torch.cat(labels))
