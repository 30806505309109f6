"""`humanmv bench --split`: give each held-out subject's input view to every method, predict all
its ground-truth views, and score them.

Per view: PSNR, SSIM, mask IoU; LPIPS, CLIP similarity to the input and Inception features for
FID/KID when their weights were given (`eval.nets`); face identity on the views where dlib
finds a face (`eval.identity_metrics`, the head region of a small body searched enlarged).
Face crops where the ground-truth face is visible: PSNR, SSIM, ST-LPIPS (`eval.face_crops`).
Per pair of neighbouring views: reprojection PSNR with the method's depth and the neighbour
O2OID (`eval.consistency`). Images are composited on white before scoring, as a viewer sees
them. Methods come from `eval.methods` (every registered generator, any variant
`NAME[KEY=VALUE,...]`, and the copy-input baseline); tables from `eval.report`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humanmv.cameras import Cameras
from humanmv.data.format import finished_subjects, read_manifest, read_subject
from humanmv.errors import ConfigError
from humanmv.eval.consistency import neighbour_o2oid, reprojection_psnr, ring_pairs
from humanmv.eval.face_crops import face_crop_scores, subject_face_regions
from humanmv.eval.identity_metrics import cosine, face_embeddings, identity_scores_from_embeddings
from humanmv.eval.image_metrics import mask_iou, psnr, ssim
from humanmv.eval.hair_metrics import hair_scores
from humanmv.eval.methods import check_methods, make_predictor
from humanmv.eval.nets import MetricNets, clip_to_reference
from humanmv.views import Views, channels_first, channels_last

__all__ = ["Bench", "SubjectResult", "check_split", "split_folders"]


@dataclass
class SubjectResult:
    """One method on one subject (or one real photo). Per-view lists follow the views' order;
    None marks a view (or pair) where the metric had nothing to be computed on.

    psnr/ssim/iou/lpips/st_lpips/csim need ground truth (empty / None in --real mode); lpips,
    st_lpips, clip are None without weights; face: whether dlib found a face in each generated view; cos_to_input,
    dist_to_input: the face embedding's cosine / Euclidean distance to the input's; csim: cosine
    to the ground-truth view's face; identity: `IdentityScores.to_dict()` against the input;
    pairs: neighbouring views; pair_psnr: reprojection PSNR (None when the method has no
    depth); pair_o2oid: neighbour face similarity; pck: {"correct", "total"} (--real mode);
    hue_drift (`real_checks.part_hue_drift`), outside_body (`real_checks.silhouette_outside_body`):
    --real mode, generators only. face_crop_*: PSNR / SSIM / ST-LPIPS of the face crops where the
    ground-truth face is visible (`eval.face_crops`; None per view elsewhere, None for a subject
    without a body in its meta). hair_iou / hair_de: `eval.hair_metrics` where the ground truth
    shows hair (None per view elsewhere; None for a subject without a labels layer).
    """

    subject: str
    method: str
    seconds: float
    az: list[float]
    psnr: list[float]
    ssim: list[float]
    iou: list[float]
    error: str | None = None
    lpips: list[float] | None = None
    st_lpips: list[float] | None = None
    clip: list[float] | None = None
    face: list[bool] = field(default_factory=list)
    cos_to_input: list[float | None] = field(default_factory=list)
    dist_to_input: list[float | None] = field(default_factory=list)
    csim: list[float | None] = field(default_factory=list)
    input_has_face: bool | None = None
    identity: dict | None = None
    pairs: list[tuple[int, int]] = field(default_factory=list)
    pair_psnr: list[float | None] | None = None
    pair_o2oid: list[float | None] = field(default_factory=list)
    pck: dict | None = None
    hue_drift: dict | None = None
    outside_body: float | None = None
    face_crop_psnr: list[float | None] | None = None
    face_crop_ssim: list[float | None] | None = None
    face_crop_st_lpips: list[float | None] | None = None
    hair_iou: list[float | None] | None = None
    hair_de: list[float | None] | None = None
    views: torch.Tensor | None = field(default=None, repr=False)  # (C, H, W, 3) on white
    features: np.ndarray | None = field(default=None, repr=False)  # (C, 2048) Inception
    gt_features: np.ndarray | None = field(default=None, repr=False)
    st_features: np.ndarray | None = field(default=None, repr=False)  # (C, 1152) ST-LPIPS trunk
    gt_st_features: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        skip = ("views", "features", "gt_features", "st_features", "gt_st_features")
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def _nan_none(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def score_views(result: SubjectResult, pred: Views, views: torch.Tensor, cameras: Cameras,
                nets: MetricNets, identifier, input_embedding, input_clip: torch.Tensor | None,
                gt_embeddings: list | None = None) -> SubjectResult:
    """Fill the metrics that need no ground-truth image: CLIP to the input, Inception features,
    face identity (CSIM too when `gt_embeddings` are given) and view consistency.

    pred: the method's views (their cameras measure its depth); views: (C, 3, H, W) the same
    on white; cameras: the C target cameras (for the ring order).
    """
    emb = nets.clip_embeddings(views)
    result.clip = clip_to_reference(emb, input_clip) if emb is not None else None
    result.features = nets.features(views)
    faces = face_embeddings(identifier, views, "view", masks=pred.mask)
    scores = identity_scores_from_embeddings(input_embedding, faces)
    result.face = list(scores.view_has_face)
    result.input_has_face = scores.input_has_face
    result.cos_to_input = _nan_none(scores.cos_to_input)
    result.dist_to_input = _nan_none(scores.dist_to_reference)
    result.identity = scores.to_dict()
    if gt_embeddings is not None:
        result.csim = [None if e is None or g is None else cosine(g, e) for e, g in zip(faces, gt_embeddings)]
    result.pairs = ring_pairs(cameras)
    result.pair_o2oid = neighbour_o2oid(faces, result.pairs)
    if pred.depth is not None:
        result.pair_psnr = reprojection_psnr(pred.rgb, pred.depth, pred.cameras, result.pairs, mask=pred.mask)
    return result


class Bench:
    """Runs methods on subject folders. Build once: the methods load their models here."""

    def __init__(self, methods: list[str], nets: MetricNets | None = None, texture_size: int = 512,
                 mode: str = "auto") -> None:
        """mode: how the generators fit each input ("auto"; "head" for a portrait bench)."""
        check_methods(methods)
        from humanmv.perception.identity import FaceIdentifier

        self.methods = methods
        self.nets = nets or MetricNets()
        self.identifier = FaceIdentifier()
        self.texture_size = texture_size
        self._studio = None
        self.predictors = {m: make_predictor(m, self.studio, mode) for m in methods}

    def settings(self) -> dict:
        """What each method runs: its generator, options, weights and stages (results.json)."""
        return {m: (p.choice.to_json() if hasattr(p, "choice") else {"baseline": m}) for m, p in self.predictors.items()}

    def studio(self):
        """The Studio every generator method shares (Anny, perception, renderer loaded once)."""
        if self._studio is None:
            from humanmv.studio import Studio

            self._studio = Studio(texture_size=self.texture_size)
        return self._studio

    def run_subject(self, folder: Path) -> list[SubjectResult]:
        """Every method on one subject folder (its last view is the input)."""
        gt = read_subject(folder, layers=("rgb", "mask", "depth", "labels"))
        if gt.cameras.names[-1] != "input":
            raise ConfigError(f"{folder}: the last view must be the 'input' view (a humanmv synth subject)")
        C = len(gt.cameras) - 1
        target = channels_first(gt[list(range(C))].on_white())
        photo = channels_first(gt[[C]].on_white())
        input_face = face_embeddings(self.identifier, photo, "input", masks=gt.mask[C:])[0]
        gt_faces = face_embeddings(self.identifier, target, "ground truth", masks=gt.mask[:C])
        gt_features = self.nets.features(target)
        gt_st_features = self.nets.st_lpips_features(target)
        input_clip = self.nets.clip_embeddings(photo)
        studio = self.studio()
        faces = subject_face_regions(studio.body, studio.renderer, gt.meta, gt.cameras[list(range(C))])
        out = []
        for method in self.methods:
            t = time.perf_counter()
            try:
                pred = self.predictors[method](gt, folder.name)
            except Exception as err:  # a method failing on a subject is a result, not a crash
                out.append(SubjectResult(folder.name, method, 0.0, [], [], [], [], error=_one_line(err)))
                continue
            seconds = time.perf_counter() - t
            views = channels_first(pred.on_white())
            r = SubjectResult(folder.name, method, seconds, gt.cameras.az[:C].tolist(),
                              psnr(views, target).tolist(), ssim(views, target).tolist(),
                              mask_iou(pred.mask, gt.mask[:C]).tolist(), views=channels_last(views))
            r.lpips = self.nets.lpips_per_view(views, target)
            r.st_lpips = self.nets.st_lpips_per_view(views, target)
            r.gt_features = gt_features
            r.st_features, r.gt_st_features = self.nets.st_lpips_features(views), gt_st_features
            if faces is not None:
                crops = face_crop_scores(faces, views, target, self.nets.st_lpips)
                r.face_crop_psnr, r.face_crop_ssim, r.face_crop_st_lpips = crops["psnr"], crops["ssim"], crops["st_lpips"]
            if gt.labels is not None:
                hair = hair_scores(views, pred.mask, target, gt.labels[:C])
                r.hair_iou, r.hair_de = hair["hair_iou"], hair["hair_de"]
            out.append(score_views(r, pred, views, gt.cameras[list(range(C))], self.nets, self.identifier,
                                   input_face, input_clip, gt_faces))
        return out


    def run_split(self, folders: list[Path], progress=None, figure_subjects: int = 4) -> tuple[list, dict]:
        """Every method on every folder: (results, figure inputs for `report.comparison_figure`).
        progress: optional callable(done, total)."""
        results: list[SubjectResult] = []
        inputs: dict = {}
        for k, folder in enumerate(folders):
            results += self.run_subject(folder)
            if k < figure_subjects:
                shown = read_subject(folder, layers=("rgb", "mask")).on_white()
                inputs[folder.name] = (shown[-1], shown[:-1])
            if progress is not None:
                progress(k + 1, len(folders))
        return results, inputs


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def split_folders(split: Path, subset: str, limit: int = 0) -> list[Path]:
    """The finished subject folders of a `humanmv synth` dataset, in manifest order.

    subset: "auto" (every subject of a bench preset's dataset (…-bench), else the test split),
            "test", "val", "train" or "all". limit: at most this many (0 = all).
    """
    if subset not in ("auto", "test", "val", "train", "all"):
        raise ConfigError(f"--subset must be auto, test, val, train or all, got {subset!r}")
    if subset == "auto":
        subset = "all" if str(read_manifest(split).get("preset", "")).endswith("-bench") else "test"
    folders = [split / "subjects" / n for n in finished_subjects(split, None if subset == "all" else subset)]
    folders = folders[:limit] if limit > 0 else folders
    if not folders:
        raise ConfigError(f"{split}: no finished subjects in the {subset!r} subset; try --subset all")
    return folders


def check_split(folders: list[Path]) -> None:
    """Every view file the bench reads exists (one-line ConfigError naming the first missing
    one), checked before any work."""
    for folder in folders:
        names = Cameras.load(folder / "cameras.json").names
        for layer in ("rgb", "mask", "depth"):
            if layer == "rgb" or (folder / layer).is_dir():
                for name in names:
                    path = folder / layer / f"{name}.png"
                    if not path.is_file():
                        raise ConfigError(f"{path}: missing view file; the subject folder is incomplete "
                                          "(delete it and re-run `humanmv synth` to write it again)")
