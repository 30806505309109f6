"""ST-LPIPS weights: taken once, at set-up, from the `stlpips-pytorch` 0.0.2 wheel on PyPI
(BSD-2; shift-tolerant AlexNet and VGG16 trunks with their linear heads, complete), and kept in
our cache as safetensors. The package itself imports torchvision, so it is never installed or
imported: its wheel is a zip from which the two weight files are read as plain state dicts.

    install_stlpips_weights()            # `humanmv setup` does this (pip download, ~64 MB)
    model = load_stlpips("alex")         # eval.lpips.LPIPS("alex-st") with the real weights

Nothing here downloads at run time: `load_stlpips` only reads the cache, and says to run
`humanmv setup` when the files are not there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from os import PathLike
from pathlib import Path

from humanmv.errors import CheckpointError

STLPIPS_WHEEL = "stlpips_pytorch-0.0.2-py3-none-any.whl"
STLPIPS_WHEEL_SHA256 = "a412bf901a97c942b37af57c7c63b6e5d1aebfe8d1dfc17853d4b2f878630645"
_MEMBERS = {"alex": "stlpips_pytorch/weights/vST0.0/alex_shift_tolerant.pth",
            "vgg": "stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth"}
STLPIPS_NETS = tuple(_MEMBERS)


def stlpips_weights_path(net: str) -> Path:
    """Where the cache keeps the `net` ("alex" or "vgg") ST-LPIPS weights."""
    from humanmv.paths import cache_dir

    assert net in _MEMBERS, net
    return cache_dir() / "stlpips" / f"{net}-st.safetensors"


def stlpips_installed() -> bool:
    return all(stlpips_weights_path(net).is_file() for net in STLPIPS_NETS)


def download_stlpips_wheel(folder: str | PathLike[str]) -> Path:
    """`pip download` the pinned wheel (no dependencies) into `folder`; its SHA-256 is checked."""
    folder = Path(folder)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                             "--only-binary", ":all:", "-d", str(folder), "stlpips-pytorch==0.0.2"],
                            capture_output=True, text=True)
    wheel = folder / STLPIPS_WHEEL
    if result.returncode != 0 or not wheel.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckpointError(f"pip could not download stlpips-pytorch==0.0.2 for the ST-LPIPS weights ({last}); "
                              f"check the connection to PyPI or pass the wheel file")
    return wheel


def install_stlpips_weights(wheel: str | PathLike[str] | None = None) -> list[Path]:
    """Read both weight files out of the wheel (downloaded when None), check them against
    `eval.lpips.LPIPS("alex-st" / "vgg-st")` and write them to the cache as safetensors
    (atomically). Returns the written paths. CheckpointError names a wrong or broken wheel."""
    from humanmv.eval.lpips import load_lpips
    from humanmv.models.weights import save_safetensors

    with tempfile.TemporaryDirectory(prefix="humanmv-stlpips-") as tmp:
        path = Path(wheel) if wheel is not None else download_stlpips_wheel(tmp)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if digest != STLPIPS_WHEEL_SHA256:
            raise CheckpointError(f"{path}: not the stlpips-pytorch 0.0.2 wheel (SHA-256 {digest}); "
                                  f"pass {STLPIPS_WHEEL} from PyPI")
        written = []
        with zipfile.ZipFile(path) as z:
            for net, member in _MEMBERS.items():
                pth = Path(tmp) / f"{net}.pth"
                pth.write_bytes(z.read(member))
                model = load_lpips(pth, net=f"{net}-st")
                out = stlpips_weights_path(net)
                out.parent.mkdir(parents=True, exist_ok=True)
                part = out.with_name(out.name + ".part")
                save_safetensors(model.state_dict(), part)
                os.replace(part, out)   # a reader never sees half a file
                written.append(out)
        return written


def load_stlpips(net: str = "alex"):
    """`eval.lpips.LPIPS(f"{net}-st")` with the cached ST-LPIPS weights; CheckpointError (one
    line, saying to run `humanmv setup`) when they are not installed."""
    from humanmv.eval.lpips import load_lpips

    if net not in _MEMBERS:
        raise ValueError(f"ST-LPIPS net must be one of {STLPIPS_NETS}, got {net!r}")
    path = stlpips_weights_path(net)
    if not path.is_file():
        raise CheckpointError(f"ST-LPIPS weights not installed ({path}); run `humanmv setup` once")
    return load_lpips(path, net=f"{net}-st")
