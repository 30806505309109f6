"""save_turntable: frames -> H.264 MP4 that reads back with the right frames, size and colours."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from humanmv.errors import OutputError
from humanmv.io import video
from humanmv.io.video import save_turntable

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
                    [255, 0, 255], [128, 128, 128], [20, 200, 90]], np.uint8)


def solid_frames(height: int, width: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(COLOURS[:, None, None], (len(COLOURS), height,
                                                                          width, 3)))


def read_video(path: Path) -> np.ndarray:
    return iio.imread(path, plugin="FFMPEG")


@pytest.mark.parametrize("size", [(48, 64), (33, 45)], ids=["even", "odd"])
def test_frames_read_back(tmp_path: Path, size: tuple[int, int]) -> None:
    h, w = size
    path = save_turntable(tmp_path / "out" / "turntable.mp4", solid_frames(h, w), fps=24)
    assert path == tmp_path / "out" / "turntable.mp4"
    assert sorted(p.name for p in path.parent.iterdir()) == ["turntable.mp4"]
    frames = read_video(path)
    assert frames.shape == (len(COLOURS), h + h % 2, w + w % 2, 3)  # odd sizes padded to even
    for got, want in zip(frames, COLOURS):
        assert np.abs(got.astype(int) - want).max() <= 6  # yuv420p + H.264 round trip
    meta = iio.immeta(path, plugin="FFMPEG")
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == pytest.approx(24)


def test_frame_content_and_fps(tmp_path: Path) -> None:
    # A moving bar over 12 frames: frame order and positions survive; RGBA float is accepted
    # (composited on white).
    n, h, w = 12, 32, 48
    frames = np.zeros((n, h, w, 4), np.float32)
    frames[..., 3] = 1.0
    for k in range(n):
        frames[k, :, 4 * k:4 * k + 4, 0] = 1.0  # red bar at columns 4k..4k+3, black elsewhere
    frames[:, :4, :, 3] = 0.0  # a transparent strip at the top: white
    path = save_turntable(tmp_path / "bar.mp4", frames, fps=12)
    got = read_video(path).astype(int)
    assert got.shape == (n, h, w, 3)
    assert iio.immeta(path, plugin="FFMPEG")["fps"] == pytest.approx(12)
    assert (got[:, :3] > 230).all()
    for k in range(n):
        red = got[k, 8:, :, 0].mean(0) > 128
        assert np.flatnonzero(red).tolist() == list(range(4 * k, 4 * k + 4))


def test_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "t.mp4"
    path.write_bytes(b"old")
    save_turntable(path, solid_frames(16, 16)[:2])
    assert path.read_bytes()[4:8] == b"ftyp"
    assert [p.name for p in tmp_path.iterdir()] == ["t.mp4"]


def test_ffmpeg_failure_is_an_output_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(video, "PRESET", "no-such-preset")
    with pytest.raises(OutputError, match="ffmpeg could not encode") as info:
        save_turntable(tmp_path / "t.mp4", solid_frames(16, 16))
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())  # neither the video nor a temp file


def test_unwritable_destination(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot be written"):
        save_turntable(tmp_path / "file" / "t.mp4", solid_frames(16, 16))


@pytest.mark.parametrize("frames", [np.zeros((0, 8, 8, 3), np.uint8),
                                    np.zeros((2, 8, 8, 2), np.uint8),
                                    np.zeros((8, 8, 3), np.int32)])
def test_bad_frames(tmp_path: Path, frames: np.ndarray) -> None:
    with pytest.raises(ValueError):
        save_turntable(tmp_path / "t.mp4", frames)
    with pytest.raises(ValueError):
        save_turntable(tmp_path / "t.mp4", solid_frames(8, 8), fps=0)
