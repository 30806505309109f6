"""Dataset pruning on subject folders built from photos: a face on a back view (az 180) is a
janus view and is moved out; subjects whose face views are one person score higher than one
mixing two people; tau keeps the right share; files are moved, never deleted."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humanmv.cameras import orbit_cameras
from humanmv.data.format import read_subject, write_subject
from humanmv.data.prune import (identity_consistency, janus_filter, kept_count, prune_dataset,
                                view_azimuths)
from humanmv.errors import ConfigError
from humanmv.perception.identity import FaceIdentifier
from humanmv.views import Views

SIZE = 512


@pytest.fixture(scope="module")
def identifier():
    return FaceIdentifier()


@pytest.fixture(scope="module")
def photos(examples_dir):
    """512x512 uint8 views: the astronaut, variants of her (zoomed, brighter), Grace Hopper and
    a variant, and an empty (black) view."""
    astronaut = Image.open(examples_dir / "astronaut.jpg").convert("RGB").resize((SIZE, SIZE))
    grace = Image.open(examples_dir / "grace_hopper.jpg").convert("RGB")
    grace = grace.crop((0, 44, 512, 556)).resize((SIZE, SIZE))

    def zoom(img, s):
        w = round(SIZE * s)
        return np.asarray(img.resize((w, w)).crop((0, 0, SIZE, SIZE)))

    a = np.asarray(astronaut)
    return {"a": a, "a_zoom": zoom(astronaut, 1.15), "a_bright": np.clip(a * 0.85 + 30, 0, 255).astype(np.uint8),
            "g": np.asarray(grace), "g_zoom": zoom(grace, 1.1), "empty": np.zeros((SIZE, SIZE, 3), np.uint8)}


def _subject(folder, images, az, unknown_az=()):
    """A subject whose view i shows images[i] from orbit azimuth az[i] (cameras.json az null for
    the views in `unknown_az`)."""
    cams = orbit_cameras(az, 0.0, distance=2.5, fov_deg=30.0, width=SIZE, height=SIZE)
    for i in unknown_az:
        cams.az[i] = float("nan")
    rgb = torch.from_numpy(np.stack(images)).float() / 255
    mask = (rgb.sum(-1) > 0).float()
    write_subject(folder, Views(cams, rgb=rgb, mask=mask, meta={"kind": "test"}))


@pytest.fixture(scope="module")
def template(tmp_path_factory, photos):
    p = photos
    root = tmp_path_factory.mktemp("template") / "data"
    # view 002 looks at the back (az null in cameras.json, 180 from its position) and shows a face
    _subject(root / "janus", [p["a"], p["a_bright"], p["a"], p["empty"]], [0, 20, 180, 200], unknown_az=[2])
    _subject(root / "same", [p["a"], p["a_zoom"], p["a_bright"], p["empty"]], [0, 30, -30, 180])
    _subject(root / "mixed", [p["a"], p["g"], p["g_zoom"], p["empty"]], [0, 30, -30, 180])
    _subject(root / "oneface", [p["g"], p["empty"], p["empty"]], [0, 90, 180])
    return root


@pytest.fixture
def dataset(tmp_path, template):
    """A fresh copy of the four subjects (the tests move files around)."""
    return Path(shutil.copytree(template, tmp_path / "data"))


def _files(root):
    """{relative path: sha1} of every file under root."""
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_janus_filter_flags_a_face_on_the_back(dataset, identifier):
    cams = read_subject(dataset / "janus", layers=()).cameras
    assert np.allclose(np.abs(view_azimuths(cams)), [0, 20, 180, 160], atol=1e-3)
    check = janus_filter(dataset / "janus", identifier)
    assert check.back_views == ["002", "003"]
    assert [f.view for f in check.flagged] == ["002"]
    assert abs(check.flagged[0].az) == pytest.approx(180, abs=1e-3) and check.flagged[0].score > 1.0
    assert janus_filter(dataset / "same", identifier).flagged == []


def test_identity_consistency_prefers_one_person(dataset, identifier):
    same = identity_consistency(dataset / "same", identifier)
    mixed = identity_consistency(dataset / "mixed", identifier)
    assert same.face_views == ["000", "001", "002"] and mixed.face_views == ["000", "001", "002"]
    assert same.score > mixed.score + 0.03
    assert same.mean_distance < 0.2 < mixed.mean_distance  # dlib: < 0.6 is one person
    one = identity_consistency(dataset / "oneface", identifier)
    assert one.score is None and one.face_views == ["000"] and "fewer than 2" in one.note


def test_prune_dataset_moves_and_reports(dataset, identifier):
    before = _files(dataset)
    dry = prune_dataset(dataset, tau=0.7, identifier=identifier, dry_run=True)
    assert _files(dataset) == before  # a dry run changes nothing, writes no report
    report = prune_dataset(dataset, tau=0.7, identifier=identifier)
    assert [(r.subject, r.view) for r in dry.removals] == [(r.subject, r.view) for r in report.removals]

    removed = {(r.subject, r.view): r for r in report.removals}
    assert set(removed) == {("janus", "002"), ("mixed", None)}
    assert removed["janus", "002"].reason.startswith("janus: a face")
    assert removed["janus", "002"].moved_to == "_pruned/janus/janus"
    assert removed["mixed", None].reason.startswith("identity: consistency")
    assert "ranks 3 of 3" in removed["mixed", None].reason
    assert report.pruned == ["mixed"] and report.kept == ["janus", "oneface", "same"]
    assert [u["subject"] for u in report.unscored] == ["oneface"]
    assert report.scores["same"] > report.scores["mixed"] and report.scores["oneface"] is None

    # janus view: out of the subject (cameras.json rewritten), into _pruned as its own subject
    janus = read_subject(dataset / "janus")
    assert janus.cameras.names == ["000", "001", "003"]
    assert not (dataset / "janus" / "rgb" / "002.png").exists()
    moved = read_subject(dataset / "_pruned" / "janus" / "janus")
    assert moved.cameras.names == ["002"] and moved.meta["pruned"]["from"] == "janus"
    assert (dataset / "_pruned" / "janus" / "janus" / "mask" / "002.png").is_file()
    # low identity: the whole subject moved
    assert not (dataset / "mixed").exists()
    assert len(read_subject(dataset / "_pruned" / "mixed" / "identity").cameras) == 4

    # nothing deleted: every file's content is still under the root
    after = _files(dataset)
    assert {d for r, d in before.items() if r.endswith(".png")} <= set(after.values())
    assert len([r for r in after if r.endswith(".png")]) == len([r for r in before if r.endswith(".png")])
    views = json.loads((dataset / "janus" / "cameras.json").read_text()) + \
        json.loads((dataset / "_pruned" / "janus" / "janus" / "cameras.json").read_text())
    assert sorted(v["name"] for v in views) == ["000", "001", "002", "003"]
    saved = json.loads((dataset / "prune_report.json").read_text())
    assert {(r["subject"], r["view"]) for r in saved["removals"]} == set(removed)
    assert saved["previous_runs"] == []

    # a second run finds no janus view left, ranks what is there, and keeps the earlier report
    again = prune_dataset(dataset, tau=1.0, identifier=identifier)
    assert again.removals == [] and again.kept == ["janus", "oneface", "same"]
    saved = json.loads((dataset / "prune_report.json").read_text())
    assert len(saved["previous_runs"]) == 1 and saved["previous_runs"][0]["pruned"] == ["mixed"]


def test_kept_count_and_bad_options(tmp_path, identifier):
    assert [kept_count(n, 0.7) for n in (0, 1, 2, 3, 10)] == [0, 1, 1, 2, 7]
    assert kept_count(4, 1.0) == 4 and kept_count(5, 0.01) == 1
    with pytest.raises(ConfigError, match="--tau"):
        prune_dataset(tmp_path, tau=0.0, identifier=identifier)
    with pytest.raises(ConfigError, match="not found"):
        prune_dataset(tmp_path / "nowhere", identifier=identifier)
    with pytest.raises(ConfigError, match="no subject folders"):
        prune_dataset(tmp_path, identifier=identifier)
