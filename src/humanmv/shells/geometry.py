"""The three ways a shell is made around the bind body, as plain differentiable tensor code:

- `offset_shell`: a region of the body's own surface pushed out along its normals (tops,
  trousers, shorts, shoes, hair on the scalp); it keeps the body's UV layout.
- `tube_shell`: rings round the body at given heights, each ring following the body's horizontal
  outline there (the support function of the body's points in a slab, so a skirt spans both
  legs), pushed out by a per-ring amount (skirts, dresses, coat tails, hair curtains, hats).
- `swept_shell`: a tube of given radii along a centre line (buns, ponytails).

The last two get a square UV chart of their own (`shell.to_chart`). Heights and the amounts
they push out may carry gradients (the surface stage fits them); which body points make a
ring's outline is decided without gradients.
"""

from __future__ import annotations

import math

import torch

from humanmv.shells.shell import BindBody, Shell, nearest_anchors, to_chart


def offset_shell(kind: str, label: int, bind: BindBody, region: torch.Tensor, thickness: torch.Tensor,
                 params: dict | None = None) -> Shell:
    """The faces of `bind` whose three vertices are in `region` (V,) bool, each vertex moved out
    by `thickness` (V,) metres along its normal."""
    keep = region[bind.faces].all(1)
    faces = bind.faces[keep]
    used, inverse = torch.unique(faces, return_inverse=True)
    uv_used, uv_inverse = torch.unique(bind.uv_faces[keep], return_inverse=True)
    vertices = bind.vertices[used] + thickness[used, None] * bind.normals[used]
    return Shell(kind, label, vertices, inverse.reshape(-1, 3), bind.uvs[uv_used].clone(),
                 uv_inverse.reshape(-1, 3), used.clone(), params or {})


def ring_outline(bind: BindBody, allowed: torch.Tensor, y: float, angles: torch.Tensor, band: float,
                 centre: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The body's horizontal outline at height `y`: (centre (2,) x z, support (S,) metres) for
    directions `angles` (S,) (0 = +Z, the front; pi/2 = +X, the subject's left), from the
    `allowed` vertices within `band` of y; None when there are none."""
    pts = bind.vertices[allowed]
    near = pts[(pts[:, 1] - y).abs() < band]
    if near.shape[0] < 3:
        return None
    xz = near[:, [0, 2]]
    c = xz.mean(0) if centre is None else centre
    dirs = torch.stack([torch.sin(angles), torch.cos(angles)], -1)  # (S, 2)
    support = ((xz - c) @ dirs.T).max(0).values  # (S,)
    # A little circular smoothing: one stray vertex should not make a spike.
    support = (support.roll(1) + 2 * support + support.roll(-1)) / 4
    return c, support.clamp_min(0.01)


def _grid_faces(rows: int, cols: int, closed: bool) -> torch.Tensor:
    """Two triangles per quad of a rows x cols vertex grid (row-major), wrapping in columns
    when `closed`."""
    r, c = torch.meshgrid(torch.arange(rows - 1), torch.arange(cols if closed else cols - 1), indexing="ij")
    r, c = r.reshape(-1), c.reshape(-1)
    c1 = (c + 1) % cols
    a, b, d, e = r * cols + c, r * cols + c1, (r + 1) * cols + c, (r + 1) * cols + c1
    return torch.cat([torch.stack([a, d, b], 1), torch.stack([b, d, e], 1)])


def _grid_uvs(rows: int, cols: int, closed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """UVs of the grid in [0, 1]^2 (row 0 at v = 1) and the faces' uv indices; a closed grid has
    one more uv column, so the seam does not wrap across the chart."""
    ucols = cols + 1 if closed else cols
    u = torch.linspace(0, 1, ucols)
    v = torch.linspace(1, 0, rows)
    uvs = torch.stack(torch.meshgrid(v, u, indexing="ij")[::-1], -1).reshape(-1, 2)
    return uvs, _grid_faces(rows, ucols, closed=False)


def tube_shell(kind: str, label: int, bind: BindBody, allowed: torch.Tensor, heights: torch.Tensor,
               push: torch.Tensor, segments: int = 48, arc: tuple[float, float] | None = None,
               outline_heights: list[float] | None = None, band: float = 0.025, top_pole: bool = False,
               pole_rise: float = 0.02,
               monotone: bool = False, params: dict | None = None) -> Shell:
    """Rings at `heights` (R,) (top first), each the body's outline there (`ring_outline` of
    the `allowed` vertices, measured at `outline_heights` when given) pushed out by `push` (R,).

    arc: (start, end) radians for an open sheet (e.g. hair over the back and sides), else a
    closed tube. top_pole: close the top with a point above the top ring's centre. monotone:
    no ring's outline inside the one above it (skirts fall, they do not follow the legs in).
    """
    R = heights.shape[0]
    closed = arc is None
    # A closed tube's seam is at the back (angle pi), where it is seen least.
    angles = torch.linspace(math.pi, 3 * math.pi, segments + 1)[:-1] if closed else \
        torch.linspace(arc[0], arc[1], segments)
    measure = outline_heights or [float(h) for h in heights.detach()]
    rings, last = [], None
    for i in range(R):
        found = ring_outline(bind, allowed, measure[i], angles, band)
        if found is None:
            assert last is not None, f"{kind}: no body at the top ring's height {measure[i]:.3f} m"
            found = last
        elif monotone and last is not None:
            found = (found[0], torch.maximum(found[1], last[1]))
        rings.append(found)
        last = found
    verts = []
    for i, (c, support) in enumerate(rings):
        radius = support + push[i]
        verts.append(torch.stack([c[0] + radius * torch.sin(angles), heights[i].expand(segments),
                                  c[1] + radius * torch.cos(angles)], -1))
    if top_pole:
        # The pole as one more ring above the top one, all its points at the pole: the cap is
        # then one more row of the grid, wound like the rings (outwards) and with area in the
        # chart (a fan to one pole uv on the top ring's uv row has none, so it showed only the
        # chart's unpainted edge). Half its triangles have no area in 3D and draw nothing.
        c = rings[0][0]
        pole = torch.stack([c[0].expand(()), heights[0] + pole_rise, c[1].expand(())])
        verts.insert(0, pole.expand(segments, 3))
        R += 1
    vertices = torch.cat(verts)
    faces = _grid_faces(R, segments, closed)
    uvs, uv_faces = _grid_uvs(R, segments, closed)
    anchors = nearest_anchors(vertices, bind, allowed)
    return Shell(kind, label, vertices, faces, to_chart(uvs, kind), uv_faces, anchors, params or {})


def swept_shell(kind: str, label: int, bind: BindBody, allowed: torch.Tensor, centres: torch.Tensor,
                radii: torch.Tensor, segments: int = 16, params: dict | None = None) -> Shell:
    """A tube along the centre line `centres` (R, 3) with `radii` (R,), closed at both ends by
    a pole at the first and last centre (their radii are ignored)."""
    R = centres.shape[0]
    tangent = torch.nn.functional.normalize(torch.cat([centres[1:2] - centres[:1], centres[2:] - centres[:-2],
                                                       centres[-1:] - centres[-2:-1]]), dim=-1)
    side = torch.tensor([1.0, 0.0, 0.0]).expand_as(tangent)
    normal = torch.nn.functional.normalize(torch.cross(tangent, side, dim=-1), dim=-1)
    binormal = torch.cross(tangent, normal, dim=-1)
    phi = torch.linspace(0, 2 * math.pi, segments + 1)[:-1]
    inner = slice(1, R - 1)
    ring = centres[inner, None] + radii[inner, None, None] * (
        torch.cos(phi)[None, :, None] * normal[inner, None] + torch.sin(phi)[None, :, None] * binormal[inner, None])
    vertices = torch.cat([centres[:1], ring.reshape(-1, 3), centres[-1:]])
    rows = R - 2
    body = _grid_faces(rows, segments, closed=True) + 1
    col = torch.arange(segments)
    nxt = (col + 1) % segments
    last = 1 + (rows - 1) * segments
    end = vertices.shape[0] - 1
    faces = torch.cat([torch.stack([torch.zeros_like(col), col + 1, nxt + 1], 1), body,
                       torch.stack([torch.full_like(col, end), nxt + last, col + last], 1)])
    uvs, _ = _grid_uvs(R, segments, closed=True)
    u = segments + 1  # uv columns; uv row k holds centre k (rows 0 and R-1: the poles)
    first = torch.stack([col, col + u, col + 1 + u], 1)
    final = torch.stack([col + (R - 1) * u, col + 1 + (R - 2) * u, col + (R - 2) * u], 1)
    uv_faces = torch.cat([first, _ring_uv_faces(rows, segments, u), final])
    # The grid above winds inwards (its rings turn the other way about the centre line than a
    # tube's about the vertical); wind outwards, as the body and every other shell are.
    faces, uv_faces = faces[:, [0, 2, 1]], uv_faces[:, [0, 2, 1]]
    anchors = nearest_anchors(vertices, bind, allowed)
    return Shell(kind, label, vertices, faces, to_chart(uvs, kind), uv_faces, anchors, params or {})


def _ring_uv_faces(rows: int, segments: int, u: int) -> torch.Tensor:
    """uv indices of a swept shell's ring-to-ring quads, in `_grid_faces`'s order (ring row k
    is uv row k + 1; the closing column uses the extra uv column, so the seam does not wrap)."""
    r, c = torch.meshgrid(torch.arange(rows - 1), torch.arange(segments), indexing="ij")
    r, c = r.reshape(-1) + 1, c.reshape(-1)
    a, b, d, e = r * u + c, r * u + c + 1, (r + 1) * u + c, (r + 1) * u + c + 1
    return torch.cat([torch.stack([a, d, b], 1), torch.stack([b, d, e], 1)])
