"""Turntable videos: frames -> H.264 MP4 (yuv420p), the `turntable.mp4` of the pipeline.

The encoder is the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg needed), driven
directly so that its exit status and error text are checked (imageio-ffmpeg's `write_frames`
does not report an encoder that fails at the end). The file is written to a temporary file in
the destination folder and renamed into place: a reader sees the old video or the new one.

yuv420p halves the chroma resolution, so width and height must be even: odd sizes are padded
by one row / column repeating the edge pixels. Colours are converted with the BT.709 matrix
(limited range) and tagged as such, what browsers and players assume for untagged web video.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from humanmv.errors import OutputError
from humanmv.io.atomic import _FILE_MODE
from humanmv.io.grid import as_uint8_rgb

CRF = 18  # x264 constant rate factor: visually lossless for renders; 23 is x264's default
PRESET = "veryfast"  # ~3x faster than "medium" for a few % larger files


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def even_size(height: int, width: int) -> tuple[int, int]:
    """The (height, width) a frame of this size is padded to (the next even numbers)."""
    return height + height % 2, width + width % 2


def _pad_even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _ffmpeg_command(exe: str, width: int, height: int, fps: float, out: str) -> list[str]:
    return [
        exe, "-y", "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"{fps:g}",
        "-i", "pipe:0",
        "-an", "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,setparams="
        "colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv", "-movflags", "+faststart", "-f", "mp4", out,
    ]


def save_turntable(path: str | os.PathLike[str], frames: Any, fps: float = 24) -> Path:
    """Write frames as an H.264 MP4 (yuv420p), atomically.

    Args:
        path: output file (parent folders are created).
        frames: (N, H, W, 3) uint8 RGB, row 0 = top (also accepted: float in [0, 1], torch
            tensors, and RGBA, which is composited on white). Odd H or W are padded to even by
            repeating the last row / column.
        fps: frames per second (> 0).
    Returns:
        the path written. Raises ValueError for malformed frames, OutputError when the folder
        cannot be written or ffmpeg fails (the message carries ffmpeg's own error text).
    """
    video = as_uint8_rgb(frames, what="frames")
    if video.shape[0] == 0:
        raise ValueError("a turntable needs at least one frame")
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    out = Path(path)
    height, width = even_size(*video.shape[1:3])
    parent = out.parent if str(out.parent) else Path(".")
    tmp_name: str | None = None
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp.mp4", dir=parent)
            os.close(fd)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OutputError(f"{out}: cannot be written ({reason}); choose another --out") from exc
        _encode(video, width, height, fps, tmp_name, out)
        try:
            os.chmod(tmp_name, _FILE_MODE)
            os.replace(tmp_name, out)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OutputError(f"{out}: cannot be written ({reason}); choose another --out") from exc
        tmp_name = None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return out


def _first_error(log: str) -> str:
    """The first line of ffmpeg's log (the root cause; later lines are consequences), without
    its "[component @ 0x...]" prefixes."""
    for line in log.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip()
        if line:
            return line
    return ""


def _encode(video: np.ndarray, width: int, height: int, fps: float, tmp_name: str,
            out: Path) -> None:
    """Pipe raw RGB frames into ffmpeg; OutputError with ffmpeg's message if it fails."""
    try:
        exe = ffmpeg_exe()
    except Exception as exc:  # imageio-ffmpeg finds no binary
        raise OutputError(f"{out}: no ffmpeg to encode the video ({exc}); reinstall "
                          "imageio-ffmpeg") from exc
    # stderr goes to a file, not a pipe: a chatty ffmpeg can never block on a full pipe.
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(_ffmpeg_command(exe, width, height, fps, tmp_name),
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        except OSError as exc:
            raise OutputError(f"{out}: cannot run ffmpeg ({exc.strerror or exc})") from exc
        try:
            try:
                for frame in video:
                    proc.stdin.write(np.ascontiguousarray(_pad_even(frame)).tobytes())
                proc.stdin.close()
            except BrokenPipeError:  # ffmpeg quit early; its exit status and log say why
                pass
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.seek(0)
            detail = _first_error(log.read().decode("utf-8", "replace")) or f"exit status {code}"
            raise OutputError(f"{out}: ffmpeg could not encode the video ({detail})")
