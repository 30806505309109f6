"""Fusing views into a UV texture: renders of a textured body, fused back onto a grey base,
give the texture back where the views saw it and the base where none did."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from humanmv.body.anny_model import BodyParams
from humanmv.cameras import orbit_cameras_around, ring_azimuths
from humanmv.eval.image_metrics import psnr
from humanmv.recon import FusionConfig, fuse_views_into_texture
from humanmv.views import Views, channels_first

S = 256


@pytest.fixture(scope="module")
def scene(body, renderer):
    """A posed-at-rest body with a smooth random texture, rendered from 8 ring views."""
    torch.manual_seed(0)
    with torch.no_grad():
        verts = body(BodyParams.neutral(1, len(body.expression_names))).vertices[0]
    texture = F.interpolate(torch.rand(1, 3, 8, 8), size=(S, S), mode="bicubic", align_corners=False)
    truth = body.mesh(verts, texture=texture[0].permute(1, 2, 0).clamp(0, 1))
    cams = orbit_cameras_around(verts, ring_azimuths(8), 0.0, fov_deg=30.0, width=128, height=128)
    views = renderer.render(truth, cams, outputs=("rgb", "mask"))
    grey = body.mesh(verts, texture=torch.full((S, S, 3), 0.5))
    return truth, grey, cams, views, verts


def _psnr(a, b, mask):
    return float(psnr(channels_first(a), channels_first(b), mask.bool())[0].mean())


def test_fused_texture_reproduces_the_views_and_in_between_views(scene, renderer):
    truth, grey, cams, views, verts = scene
    fused = fuse_views_into_texture(grey, [Views(cams, rgb=views.rgb, mask=views.mask)], renderer)
    assert fused.texture.shape == (S, S, 3) and fused.weight.shape == (S, S)
    mesh = grey.__class__(**{**grey.__dict__, "texture": fused.texture})
    again = renderer.render(mesh, cams, outputs=("rgb", "mask"))
    assert _psnr(again.rgb, views.rgb, views.mask) > 30
    # Views between the fused ones (22.5 degrees off) come out right too: the texture, not the
    # images, holds the colours.
    between = orbit_cameras_around(verts, ring_azimuths(8, start=22.5), 0.0, fov_deg=30.0, width=128, height=128)
    want = renderer.render(truth, between, outputs=("rgb", "mask"))
    got = renderer.render(mesh, between, outputs=("rgb",))
    base = renderer.render(grey, between, outputs=("rgb",))
    assert _psnr(got.rgb, want.rgb, want.mask) > 25 > _psnr(base.rgb, want.rgb, want.mask)


def test_texels_no_view_sees_keep_the_base(scene, renderer):
    truth, grey, cams, views, _ = scene
    front = [0]
    fused = fuse_views_into_texture(grey, [Views(cams[front], rgb=views.rgb[front], mask=views.mask[front])], renderer)
    from humanmv.render.uv_space import rasterize_uv

    covered = rasterize_uv(grey, S).mask
    unseen = covered & (fused.weight == 0)
    seen = covered & (fused.weight > 0.5)
    assert 0.3 < float(unseen.sum()) / float(covered.sum()) < 0.8  # the back half and the sides
    assert torch.allclose(fused.texture[unseen], torch.full((int(unseen.sum()), 3), 0.5), atol=1e-5)
    assert (fused.best_view[unseen] == -1).all() and (fused.best_view[seen] == 0).all()
    err = (fused.texture[seen] - truth.texture[seen]).abs().mean()
    assert float(err) < 0.03


def test_trust_and_masks_decide_whose_colour_a_texel_takes(scene, renderer):
    _, grey, cams, views, _ = scene
    one = cams[[0]]
    red = torch.zeros(1, 128, 128, 3)
    red[..., 0] = 1
    blue = torch.zeros(1, 128, 128, 3)
    blue[..., 2] = 1
    mask = views.mask[[0]]
    trusted = fuse_views_into_texture(grey, [Views(one, rgb=red, mask=mask), Views(one, rgb=blue, mask=mask)],
                                      renderer, trust=[4.0, 1.0], config=FusionConfig(base_weight=1e-6))
    seen = trusted.weight > 1.0
    assert seen.any()
    assert torch.allclose(trusted.texture[seen][:, 0], torch.full((int(seen.sum()),), 0.8), atol=1e-3)
    masked = fuse_views_into_texture(grey, [Views(one, rgb=red, mask=mask), Views(one, rgb=blue, mask=torch.zeros_like(mask))],
                                     renderer, config=FusionConfig(base_weight=1e-6))
    seen = masked.weight > 0.1
    assert torch.allclose(masked.texture[seen], torch.tensor([1.0, 0.0, 0.0]).expand(int(seen.sum()), 3), atol=1e-3)


def test_kept_texels_keep_the_base_whatever_the_views_say(scene, renderer):
    """The photo's face texels (keep_base) stay the base's; the rest takes the views'."""
    _, grey, cams, views, _ = scene
    red = torch.zeros_like(views.rgb)
    red[..., 0] = 1
    keep = torch.zeros(S, S, dtype=torch.bool)
    keep[: S // 2] = True
    fused = fuse_views_into_texture(grey, [Views(cams, rgb=red, mask=views.mask)], renderer, keep_base=keep)
    seen = fused.weight > 0.5
    assert (seen & keep).any() and (seen & ~keep).any()
    assert torch.allclose(fused.texture[seen & keep], torch.full((int((seen & keep).sum()), 3), 0.5), atol=1e-5)
    assert float(fused.texture[seen & ~keep][:, 0].mean()) > 0.9


def test_hue_sigma_distrusts_colours_the_base_does_not_have(scene, renderer):
    """Generated views paint a white base purple: with a hue sigma the base holds, a view of
    the base's own hue (grey, only darker) still counts fully."""
    _, grey, cams, views, _ = scene
    white = grey.__class__(**{**grey.__dict__, "texture": torch.full((S, S, 3), 0.9)})
    purple = torch.zeros_like(views.rgb)
    purple[..., 0], purple[..., 2] = 0.6, 0.7
    purple[..., 1] = 0.2
    group = [Views(cams, rgb=purple, mask=views.mask)]
    cfg = FusionConfig()
    plain = fuse_views_into_texture(white, group, renderer, config=cfg)
    doubted = fuse_views_into_texture(white, group, renderer, config=cfg, hue_sigma=[8.0])
    seen = plain.weight > 0.5
    assert float(plain.texture[seen][:, 1].mean()) < 0.4  # purple won
    assert float(doubted.texture[seen][:, 1].mean()) > 0.85  # the base's white held
    dark = fuse_views_into_texture(white, [Views(cams, rgb=torch.full_like(purple, 0.5), mask=views.mask)],
                                   renderer, config=cfg, hue_sigma=[8.0])
    assert float(dark.texture[seen].mean()) < 0.6  # same hue, darker: trusted
    with pytest.raises(AssertionError, match="one hue_sigma and hue_radius per group"):
        fuse_views_into_texture(white, group, renderer, hue_sigma=[8.0, None])


def test_hue_radius_keeps_the_views_lightness_and_the_bases_hue(scene, renderer):
    """Dark purple views over a white base: pulled to radius r, the fused texels take the
    views' lightness (dark) but lie within r of the base's a*b* (grey); unpulled they stay purple."""
    from humanmv.views import lab_channels_last

    _, grey, cams, views, _ = scene
    white = grey.__class__(**{**grey.__dict__, "texture": torch.full((S, S, 3), 0.9)})
    purple = torch.zeros_like(views.rgb)
    purple[..., 0], purple[..., 1], purple[..., 2] = 0.35, 0.1, 0.4
    group = [Views(cams, rgb=purple, mask=views.mask)]
    plain = fuse_views_into_texture(white, group, renderer)
    pulled = fuse_views_into_texture(white, group, renderer, hue_radius=[3.0])
    seen = plain.weight > 0.5
    lab_plain, lab_pulled = lab_channels_last(plain.texture[seen]), lab_channels_last(pulled.texture[seen])
    view_lab = lab_channels_last(purple[0, 0, 0])
    assert float(lab_plain[:, 1:].norm(dim=-1).median()) > 30  # purple
    assert float(lab_pulled[:, 1:].norm(dim=-1).quantile(0.95)) < 3.5  # the base's grey hue, within r
    assert abs(float(lab_pulled[:, 0].median()) - float(view_lab[0])) < 2  # the views' lightness
    assert float(lab_pulled[:, 0].median()) < float(lab_channels_last(torch.tensor([0.9] * 3))[0]) - 40
    zero = fuse_views_into_texture(white, group, renderer, hue_radius=[0.0])
    assert float(lab_channels_last(zero.texture[seen])[:, 1:].norm(dim=-1).quantile(0.95)) < 0.5


def test_views_must_match_their_cameras(scene, renderer):
    _, grey, cams, views, _ = scene
    with pytest.raises(ValueError, match=r"Views.rgb must be \(8, 128, 128, 3\)"):
        Views(cams, rgb=views.rgb[:, :64], mask=views.mask)
    with pytest.raises(AssertionError, match="one trust per group"):
        fuse_views_into_texture(grey, [Views(cams, rgb=views.rgb, mask=views.mask)], renderer, trust=[1.0, 2.0])
    with pytest.raises(ValueError, match="base texture"):
        fuse_views_into_texture(grey.__class__(grey.vertices, grey.faces, uvs=grey.uvs, uv_faces=grey.uv_faces),
                                [Views(cams, rgb=views.rgb, mask=views.mask)], renderer)
