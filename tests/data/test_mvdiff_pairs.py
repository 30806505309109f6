"""The mvdiff training pairs: the dataset over prepared prior views."""

import pytest
import torch

from humanmv.errors import ConfigError


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / (a | b).sum())


def test_prepared_pairs_have_the_contract_shapes_and_aligned_conditions(mvdiff_data):
    from humanmv.data.mvdiff_pairs import MVDiffPairs

    ds = MVDiffPairs(mvdiff_data, views=4, size=32, split=None)
    assert len(ds) == 2
    item = ds[0]
    assert item["target"].shape == (4, 4, 32, 32) and item["coarse"].shape == (4, 4, 32, 32)
    assert item["normal"].shape == (4, 3, 32, 32) and item["camera"].shape == (4, 12)
    assert item["reference"].shape == (4, 32, 32) and item["reference_conditions"].shape == (7, 32, 32)
    for key in ("target", "coarse", "normal", "reference", "reference_conditions"):
        assert 0 <= float(item[key].min()) and float(item[key].max()) <= 1 + 1e-5
    # The prior was fitted to the input view: the two agree there, and roughly at the targets.
    assert _iou(item["reference"][3], item["reference_conditions"][3]) > 0.7
    assert _iou(item["target"][:, 3], item["coarse"][:, 3]) > 0.4
    # Rotation block of the camera features is a rotation.
    R = item["camera"][:, :9].view(-1, 3, 3)
    assert torch.allclose(torch.linalg.det(R), torch.ones(4), atol=1e-4)
    # Deterministic per (seed, epoch, index); another epoch picks other views.
    assert torch.equal(ds[0]["camera"], item["camera"])
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["camera"], item["camera"])


def test_pairs_need_prepared_prior_views(tmp_path):
    from humanmv.data.mvdiff_pairs import MVDiffPairs

    with pytest.raises(ConfigError, match="no prior/ views"):
        MVDiffPairs(tmp_path)


def test_colour_augment_moves_every_image_alike_and_nothing_else(mvdiff_data):
    from humanmv.data.mvdiff_pairs import MVDiffPairs

    plain = MVDiffPairs(mvdiff_data, views=4, size=32, split=None)[0]
    jittered = MVDiffPairs(mvdiff_data, views=4, size=32, split=None, colour_augment=1.0)[0]
    assert torch.equal(plain["camera"], jittered["camera"])          # the same views are picked
    for key in ("target", "coarse", "reference", "reference_conditions"):
        assert not torch.allclose(plain[key][..., :3, :, :], jittered[key][..., :3, :, :], atol=1e-3), key
        assert torch.equal(plain[key][..., 3:, :, :], jittered[key][..., 3:, :, :]), key  # alpha, normals
    assert torch.equal(plain["normal"], jittered["normal"])
    # One transform for the whole item: where the photo and its render show the same colour,
    # they still show the same colour (here: the white background, left white).
    outside = plain["reference"][3] == 0
    assert torch.allclose(jittered["reference"][:3][:, outside], torch.ones(1), atol=1e-5)


def _outfit_folder(root, bottoms):
    import json

    for i, bottom in enumerate(bottoms):
        folder = root / "subjects" / f"{i:06d}"
        folder.mkdir(parents=True)
        outfit = [{"kind": bottom, "params": {}}, {"kind": "shoes", "params": {}}] if bottom else []
        (folder / "meta.json").write_text(json.dumps({"outfit": outfit}))
    return [f"{i:06d}" for i in range(len(bottoms))]


def test_skirt_share_caps_skirts_and_dresses_and_keeps_everyone_else(tmp_path):
    from humanmv.data.mvdiff_pairs import cap_skirt_share, wears_skirt

    bottoms = ["skirt", "trousers", "dress", "dress", "shorts", "skirt", None, "trousers", "skirt", "dress"]
    names = _outfit_folder(tmp_path, bottoms)
    assert [wears_skirt(tmp_path, n) for n in names] == [b in ("skirt", "dress") for b in bottoms]
    kept = cap_skirt_share(tmp_path, list(reversed(names)), 0.2)
    others = [n for n, b in zip(names, bottoms) if b not in ("skirt", "dress")]
    assert set(others) <= set(kept) and kept == sorted(kept)
    skirts = [n for n in kept if wears_skirt(tmp_path, n)]
    assert skirts == ["000000"]  # 4 others: one skirt makes 20%; the first in name order
    assert cap_skirt_share(tmp_path, names, 0.0) == others
    assert len(cap_skirt_share(tmp_path, names, 0.6)) == 10  # 6 of 10 = the cap: all kept


def test_training_subjects_are_the_capped_train_split_and_val(mvdiff_data):
    from humanmv.data.format import finished_subjects
    from humanmv.train.recipes.mvdiff import MVDiffOptions, training_subjects

    everyone = finished_subjects(mvdiff_data, "train") + finished_subjects(mvdiff_data, "val")
    assert training_subjects(mvdiff_data, MVDiffOptions()) == everyone
    assert set(training_subjects(mvdiff_data, MVDiffOptions(skirt_share=0.0))) <= set(everyone)
