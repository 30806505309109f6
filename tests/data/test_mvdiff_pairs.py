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
