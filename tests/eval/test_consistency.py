"""Reprojection between views: two renders of a known scene warp into each other."""

from __future__ import annotations

import math

import numpy as np
import torch

from humanmv.cameras import orbit_cameras
from humanmv.eval.consistency import neighbour_o2oid, reproject, reprojection_psnr, ring_pairs
from humanmv.render import Mesh


def _sphere(n: int = 64, radius: float = 0.5) -> Mesh:
    """A UV sphere whose vertex colours vary smoothly with position."""
    th = torch.linspace(0, math.pi, n + 1)
    ph = torch.linspace(0, 2 * math.pi, 2 * n + 1)[:-1]
    t, p = torch.meshgrid(th, ph, indexing="ij")
    v = torch.stack([torch.sin(t) * torch.sin(p), torch.cos(t), torch.sin(t) * torch.cos(p)], -1).reshape(-1, 3)
    m = 2 * n
    faces = []
    for i in range(n):
        for j in range(m):
            a, b, c, d = i * m + j, i * m + (j + 1) % m, (i + 1) * m + j, (i + 1) * m + (j + 1) % m
            faces += [(a, c, b), (b, c, d)]
    colors = 0.5 + 0.5 * torch.stack([torch.sin(3 * v[:, 0]), torch.cos(2 * v[:, 1]), torch.sin(2 * v[:, 2] + 1)], -1)
    return Mesh(radius * v, torch.tensor(faces), vertex_colors=colors)


def test_warping_one_render_into_its_neighbour_matches(renderer):
    cams = orbit_cameras([0.0, 20.0, 180.0], 10.0, 2.5, 35.0, 128, 128)
    out = renderer.render(_sphere(), cams, outputs=("mask", "depth", "rgb"))
    warped, valid = reproject(out.rgb[0], out.depth[0], cams[[0]], out.depth[1], cams[[1]])
    assert warped.shape == (128, 128, 3) and valid.dtype == torch.bool
    seen = int(valid.sum())
    assert seen > 0.6 * int((out.depth[1] > 0).sum())  # most of the sphere is seen by both
    pairs = [(0, 1), (1, 0)]
    values = reprojection_psnr(out.rgb, out.depth, cams, pairs)
    assert all(v is not None and v > 30.0 for v in values), values
    # a wrong camera (the other side of the sphere) is not "visible in both"
    _, valid_back = reproject(out.rgb[0], out.depth[0], cams[[0]], out.depth[2], cams[[2]])
    assert int(valid_back.sum()) < 0.05 * seen
    # and a wrong colour is measured as such
    shifted = out.rgb.clone()
    shifted[1] = (shifted[1] + 0.1).clamp(0, 1) * out.mask[1][..., None]
    assert reprojection_psnr(shifted, out.depth, cams, [(0, 1)])[0] < 25.0


def test_ring_pairs_follow_the_azimuths_and_wrap():
    cams = orbit_cameras([90.0, 0.0, 270.0, 180.0], 0.0, 2.5, 35.0, 32, 32)
    assert ring_pairs(cams) == [(1, 0), (0, 3), (3, 2), (2, 1)]
    assert ring_pairs(cams[[0, 1]]) == [(1, 0)]


def test_neighbour_o2oid_needs_a_face_in_both_views():
    e = np.array([1.0, 0.0])
    got = neighbour_o2oid([e, e, None], [(0, 1), (1, 2), (2, 0)])
    assert abs(got[0] - 1.0) < 1e-9 and got[1:] == [None, None]


def test_a_method_mask_smaller_than_its_depth_only_scores_inside_it(renderer):
    """A generator that keeps a prior's depth but draws a smaller silhouette (black outside it,
    as premultiplied views are): only pixels inside its own masks are compared."""
    cams = orbit_cameras([0.0, 20.0], 10.0, 2.5, 35.0, 128, 128)
    out = renderer.render(_sphere(), cams, outputs=("mask", "depth", "rgb"))
    mask = out.mask.clone()
    mask[:, :, :64] = 0  # the method "erased" the left half of the person
    rgb = out.rgb * mask[..., None]
    without = reprojection_psnr(rgb, out.depth, cams, [(0, 1)])[0]
    with_mask = reprojection_psnr(rgb, out.depth, cams, [(0, 1)], mask=mask)[0]
    assert without < 20.0 < 30.0 < with_mask, (without, with_mask)
