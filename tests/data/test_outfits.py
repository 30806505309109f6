import dataclasses

import numpy as np
import torch

from humanmv.body.anny_model import PART_NAMES, BodyParams
from humanmv.data.appearance import BOTTOMS, sample_appearance
from humanmv.data.engine import get_preset
from humanmv.data.outfits import paint_charts, sample_outfit
from humanmv.shells.garments import KINDS, ShellSpec, build_shells
from humanmv.shells.labels import label_of
from humanmv.shells.shell import _FREE_SQUARES, CHART_OF_KIND, BindBody, chart_box

# body-bench-clothed cut down to 3 small views (+ the input photo).
SMALL = dataclasses.replace(get_preset("body-bench-clothed"), azimuths=(0.0, 90.0, 180.0), elevations=(0.0,) * 3,
                            size=64)


def test_clothed_presets():
    for name, plain in (("body-bench-clothed", "body-bench"), ("body-train-clothed", "body-train")):
        clothed, bare = get_preset(name), get_preset(plain)
        assert clothed.clothed and not bare.clothed
        assert dataclasses.replace(clothed, name=plain, clothed=False) == bare  # the same rig
    assert get_preset("body-bench-clothed").split == "test"


def test_same_seed_is_the_same_subject_with_or_without_its_outfit(sample_subject):
    for seed in range(5):
        dressed, bare = sample_subject(seed, clothed=True), sample_subject(seed, clothed=False)
        assert bare.outfit is None
        assert dressed.outfit and all(isinstance(s, ShellSpec) and s.kind in KINDS for s in dressed.outfit)
        assert torch.equal(dressed.params.pose, bare.params.pose)
        assert torch.equal(dressed.params.phenotype, bare.params.phenotype)
        assert torch.equal(dressed.params.expression, bare.params.expression)
        assert dressed.appearance.to_dict() == bare.appearance.to_dict()
        assert dressed.pose_family == bare.pose_family and dressed.age_years == bare.age_years
        again = sample_subject(seed, clothed=True)
        assert [s.to_dict() for s in again.outfit] == [s.to_dict() for s in dressed.outfit]


def test_clothed_subject_renders_its_outfit(body, sample_subject, subject_renderer):
    # The first seed whose subject wears a skirt or a dress: a shell well off the legs.
    seed = next(s for s in range(100) if sample_subject(s).appearance.bottom in ("skirt", "dress"))
    spec = sample_subject(seed, clothed=SMALL.clothed)
    bottom = spec.appearance.bottom
    assert bottom in [s.kind for s in spec.outfit]
    dressed = subject_renderer(spec, SMALL)
    bare = subject_renderer(sample_subject(seed, clothed=False), SMALL)
    meta = dressed.meta
    assert meta["preset"] == "body-bench-clothed"
    assert meta["outfit"] == [s.to_dict() for s in spec.outfit] and "outfit" not in bare.meta
    assert meta["body"] == bare.meta["body"] and meta["appearance"] == bare.meta["appearance"]
    assert [ShellSpec.from_dict(d).to_dict() for d in meta["outfit"]] == meta["outfit"]

    shell_px = dressed.labels >= len(PART_NAMES)
    assert shell_px.any() and int(dressed.labels.max()) <= label_of("headwear")
    assert label_of("dress") in set(dressed.labels[shell_px].tolist())  # skirts and dresses: "dress"
    assert int(bare.labels.max()) < len(PART_NAMES)
    # Clothes only add: the body's silhouette is inside the clothed one, which is larger, and
    # what only the clothes cover is labelled as clothes.
    d, b = dressed.mask > 0, bare.mask > 0
    assert not (b & ~d).any()
    assert (d.sum((1, 2)) > b.sum((1, 2))).any()
    assert (dressed.labels[d & ~b] >= len(PART_NAMES)).all()
    assert (dressed.depth[~d] == 0).all() and (dressed.labels[~d] == -1).all()


def test_sample_outfit_is_deterministic_and_follows_the_look():
    look = sample_appearance(np.random.default_rng(0))
    for seed in range(3):
        a = sample_outfit(np.random.default_rng(seed), look)
        b = sample_outfit(np.random.default_rng(seed), look)
        assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    kinds = lambda **kw: [s.kind for s in sample_outfit(np.random.default_rng(1),  # noqa: E731
                                                         dataclasses.replace(look, **kw))]
    for bottom in BOTTOMS:
        got = kinds(bottom=bottom, hair_style="bald")
        assert bottom in got and "shoes" in got, (bottom, got)
        assert not set(got) & {"short-hair", "curly-hair", "long-hair", "bun", "ponytail"}, got
    assert not set(kinds(bottom="dress", top="t-shirt")) & {"loose-top", "coat"}  # a dress is its own top
    skirt = next(s for s in sample_outfit(np.random.default_rng(1), dataclasses.replace(look, bottom="skirt"))
                 if s.kind == "skirt")
    assert -0.05 <= skirt.params["hem"] <= 0.4 and 0.008 <= skirt.params["gap"] <= 0.02
    assert "long-hair" in kinds(hair_style="long") and "short-hair" in kinds(hair_style="short")
    seen = set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        look = sample_appearance(rng)
        outfit = [s.kind for s in sample_outfit(rng, look)]
        assert set(outfit) <= set(KINDS) and len(outfit) == len(set(outfit))
        assert not {"skirt", "dress"} <= set(outfit)  # they share a chart
        assert sum(k in CHART_OF_KIND for k in outfit) == len({CHART_OF_KIND[k] for k in outfit if k in CHART_OF_KIND})
        seen |= set(outfit)
    assert {"skirt", "dress", "trousers", "shorts", "shoes", "long-hair"} <= seen


def test_paint_charts_paints_what_the_charted_shells_show_and_nothing_else(body):
    """Every face of a charted shell samples (bilinearly, as the renderer does) painted texels of
    its chart, and no texel outside the charts changes (offset shells show the body's paint)."""
    S = 512
    bind = BindBody.of(body, BodyParams.neutral(1, len(body.expression_names)))
    look = sample_appearance(np.random.default_rng(3))
    base = torch.rand(S, S, 3) * 0.5 + 0.25
    specs = [ShellSpec(k) for k in ("coat", "skirt", "long-hair", "bun", "hat")]
    shells = build_shells(bind, specs)
    out = paint_charts(base, shells, look, np.random.default_rng(0))
    assert out.shape == base.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    centre = (torch.arange(S) + 0.5) / S
    u, v = centre[None, :].expand(S, S), (1 - centre)[:, None].expand(S, S)
    in_chart = torch.zeros(S, S, dtype=torch.bool)
    for i in range(len(_FREE_SQUARES)):
        u0, v0, u1, v1 = chart_box(i)
        in_chart |= (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    assert torch.equal(out[~in_chart], base[~in_chart]), "texels outside the charts were painted"
    changed = (out != base).any(-1).float()
    for shell in shells:
        if shell.kind not in CHART_OF_KIND:
            continue
        c = shell.uvs[shell.uv_faces].mean(1)
        grid = torch.stack([c[:, 0] * 2 - 1, (1 - c[:, 1]) * 2 - 1], -1)[None, None]
        painted = torch.nn.functional.grid_sample(changed[None, None], grid, mode="bilinear",
                                                  align_corners=False)[0, 0, 0]
        assert float(painted.mean()) > 0.99 and float(painted.min()) > 0.75, (
            f"{shell.kind}: faces see painted texels {float(painted.mean()):.3f} on average, "
            f"{float(painted.min()):.3f} at worst")
    # A hat's chart is painted in the hat's own colour.
    hat = build_shells(bind, [ShellSpec("hat", {"r": 0.9, "g": 0.1, "b": 0.2})])
    red = paint_charts(torch.zeros(S, S, 3), hat, look, np.random.default_rng(0))
    u0, v0, u1, v1 = chart_box(CHART_OF_KIND["hat"])
    box = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    lit = red[box & (red.sum(-1) > 0)]
    assert lit.shape[0] > 0.5 * int(box.sum())
    assert torch.allclose(lit, torch.tensor([0.9, 0.1, 0.2]).expand_as(lit), atol=1e-6)


def test_garment_texels_are_where_the_garments_are_painted(subject_renderer):
    """`garment_texels` (what the completion benchmark scores) marks the texels `paint_texture`
    gives the top's and the bottom's colours, and no skin."""
    from dataclasses import replace

    from humanmv.data.appearance import garment_texels, paint_texture, sample_appearance

    atlas = subject_renderer.atlas
    look = replace(sample_appearance(np.random.default_rng(3)), top="t-shirt", bottom="shorts",
                   top_colour=[0.0, 1.0, 0.0], top_pattern="solid", bottom_colour=[0.0, 0.0, 1.0],
                   bottom_pattern="solid", hair_style="short")  # long hair would paint over the top's back
    texture = paint_texture(atlas, look, np.random.default_rng(0))
    top, bottom = garment_texels(atlas, look)
    green = (texture - torch.tensor([0.0, 1.0, 0.0])).abs().amax(-1) < 1e-6
    blue = (texture - torch.tensor([0.0, 0.0, 1.0])).abs().amax(-1) < 1e-6
    assert top.sum() > 1000 and bottom.sum() > 1000
    assert torch.equal(top & ~bottom, green)
    assert torch.equal(bottom, blue)  # the shorts are painted over the top's hem
    lower_legs = atlas.parts("lower_leg.L", "lower_leg.R")
    assert not (bottom & lower_legs).any()  # shorts end above the knee
    assert garment_texels(atlas, replace(look, top="none"))[0] is None
