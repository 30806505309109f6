"""The multi-view subject on disk (docs/architecture.md): one writer, one reader, of `humanmv.views.Views`.

    SUBJECT/
      cameras.json       our cameras (OpenCV K + world-to-camera per view)
      meta.json          kind, seed, body parameters, appearance, ... (free-form JSON object)
      rgb/NNN.png        RGBA, alpha = person mask
      normal/NNN.png     camera-space normals as (n + 1) / 2, alpha = mask
      depth/NNN.png      16-bit camera z in millimetres, 0 = background
      mask/NNN.png       0/255
      labels/NNN.png     8-bit part label + 1, 0 = background

Every layer but cameras.json is optional; what a folder has is what `read_subject` can load.
Each PNG has its own camera's size (cameras.json); in memory the views share the canvas of
`humanmv.views` (each view top-left, background beyond it). On disk the mask is {0, 1} (0/255,
alpha > 127 when it comes from rgb) and depth has 1 mm steps.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from humanmv.cameras import Cameras
from humanmv.errors import ConfigError
from humanmv.io.atomic import atomic_write_bytes, atomic_write_text
from humanmv.views import LAYERS, Views

DEPTH_SCALE = 1000.0  # metres -> the 16-bit PNG's millimetres


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W), (H, W, 4) RGBA or uint16 (H, W) array, with OpenCV's
    speed-tuned defaults: zlib level 1, the "sub" filter, RLE strategy. On a 256x256 view that
    is as fast as level 1 with the "up" filter (which OpenCV < 4.12 cannot select), colour files
    25% smaller, 16-bit depth ~2x larger; the same bytes for the same array in OpenCV 4.11 and
    5.0, and any PNG reader reads them."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {image.shape}")
    return data.tobytes()


def _u8(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounding half to even (numpy on the whole batch: one op per
    layer rather than one torch op per view)."""
    return np.rint(np.clip(x, 0, 1) * np.float32(255)).astype(np.uint8)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


def _layer_image(views: Views, layer: str, i: int, mask: np.ndarray) -> np.ndarray:
    """View i of a layer as it goes into its PNG."""
    m = mask[i][..., None]
    if layer == "rgb":
        return _u8(np.concatenate([_np(views.rgb[i]) * m, m], -1))
    if layer == "normal":
        return _u8(np.concatenate([(_np(views.normal[i]) + 1) / 2 * m, m], -1))
    if layer == "depth":
        return np.clip(np.rint(_np(views.depth[i]) * np.float32(DEPTH_SCALE)), 0, 65535).astype(np.uint16)
    if layer == "mask":
        return _u8(_np(views.mask[i]))
    return np.clip(views.labels[i].detach().cpu().numpy() + 1, 0, 255).astype(np.uint8)


def write_subject(folder: Path, views: Views, fsync: bool = False) -> None:
    """Write `views` into `folder` (created). fsync: per file (off by default: datasets are
    written subject by subject into a temporary folder that is renamed when complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cams = views.cameras
    mask = (_np(views.mask) if views.mask is not None
            else np.ones((len(cams), cams.height, cams.width), np.float32))
    jobs: list[tuple[str, int]] = []
    for layer in LAYERS:
        if getattr(views, layer) is not None:
            (folder / layer).mkdir(exist_ok=True)
            jobs += [(layer, i) for i in range(len(cams))]

    sizes = cams.sizes.tolist()

    def write(job: tuple[str, int]) -> None:
        layer, i = job
        w, h = sizes[i]
        png = encode_png(np.ascontiguousarray(_layer_image(views, layer, i, mask)[:h, :w]))
        atomic_write_bytes(folder / layer / f"{cams.names[i]}.png", png, fsync)

    # Conversion and PNG compression release the GIL: encode on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(write, jobs))
    atomic_write_text(folder / "cameras.json", json.dumps(cams.to_json(), indent=1))
    atomic_write_text(folder / "meta.json", json.dumps(views.meta, indent=1))


def _read_png(path: Path, height: int, width: int) -> np.ndarray:
    if not path.is_file():
        raise ConfigError(f"{path}: missing view file; the subject folder is incomplete "
                          "(re-run the writer, or drop this view)")
    with Image.open(path) as img:
        array = np.asarray(img)
    if array.shape[:2] != (height, width):
        raise ConfigError(f"{path}: {array.shape[1]}x{array.shape[0]} pixels but cameras.json says "
                          f"{width}x{height}; the subject folder is inconsistent (re-run the writer)")
    return array


def _on_canvas(arrays: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """(C, height, width, ...) of views that may be smaller than the canvas, each top-left;
    zero beyond a view is the background of every layer's encoding."""
    if all(a.shape[:2] == (height, width) for a in arrays):
        return np.stack(arrays)
    out = np.zeros((len(arrays), height, width) + arrays[0].shape[2:], arrays[0].dtype)
    for canvas, a in zip(out, arrays):
        canvas[:a.shape[0], :a.shape[1]] = a
    return out


def read_subject(folder: Path, layers: tuple[str, ...] = LAYERS,
                 views: list[int] | None = None) -> Views:
    """Read a subject folder. layers: which of `LAYERS` to load (those absent from the folder
    stay None); without a mask/ layer the mask is rgb's alpha. views: indices of the views to
    load (default all). ConfigError names any missing or mis-sized file."""
    folder = Path(folder)
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; choose from {LAYERS}")
    cams = Cameras.load(folder / "cameras.json")
    if views is not None:
        cams = cams[views]
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    got: dict[str, torch.Tensor] = {}
    alpha = None
    for layer in layers:
        if not (folder / layer).is_dir():
            continue
        arrays = [_read_png(folder / layer / f"{name}.png", h, w)
                  for name, (w, h) in zip(cams.names, cams.sizes.tolist())]
        stack = torch.from_numpy(_on_canvas(arrays, cams.height, cams.width))
        if layer == "rgb":
            got["rgb"] = stack[..., :3].float() / 255
            alpha = (stack[..., 3] > 127).float()
        elif layer == "normal":
            n = stack[..., :3].float() / 255 * 2 - 1
            valid = stack[..., 3:4] > 127
            got["normal"] = torch.where(valid, torch.nn.functional.normalize(n, dim=-1), torch.zeros_like(n))
        elif layer == "depth":
            got["depth"] = stack.to(torch.int32).float() / DEPTH_SCALE
        elif layer == "mask":
            got["mask"] = (stack > 127).float()
        elif layer == "labels":
            got["labels"] = stack.long() - 1
    if "mask" not in got and alpha is not None:
        got["mask"] = alpha
    return Views(cams, meta=meta, **got)


def read_manifest(root: Path) -> dict:
    """A dataset folder's manifest.json (written by `humanmv synth` / `import-scans`);
    ConfigError (one line) when it is missing or unreadable."""
    manifest = Path(root) / "manifest.json"
    if not manifest.is_file():
        raise ConfigError(f"{root}: no manifest.json; point at a dataset folder written by "
                          f"`humanmv synth --preset PRESET --subjects N --out {root}`")
    try:
        data = json.loads(manifest.read_text())
        data["subjects"] = list(data["subjects"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{manifest} is unreadable; write the dataset again with `humanmv synth`") from None
    return data


def finished_subjects(root: Path, split: str | None = None) -> list[str]:
    """Names of the dataset's finished subjects (their meta.json exists) in manifest order,
    of one split ("train", "val", "test") or all (None)."""
    root = Path(root)
    return [e["name"] for e in read_manifest(root)["subjects"]
            if (split is None or e["split"] == split) and (root / "subjects" / e["name"] / "meta.json").is_file()]
