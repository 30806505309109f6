"""The demo page end to end in headless Chromium against a real `humanmv app`: a photo in; the
progress stages, the 3D viewer drawing the avatar, the views, the turntable playing and the
zip out; the default 16 views; bad uploads answered with the CLI's one-line messages while the
server keeps serving; the session's files removed when the page closes; nothing fetched from
outside 127.0.0.1."""

from __future__ import annotations

import time
import urllib.request

import pytest

from app_pages import (RECORD_PROGRESS, download_zip, generate, open_page, png_size,
                       progress_stages, set_number, upload, upload_and_wait, viewer_file_url,
                       wait_viewer_drawn, zip_members)
from conftest import MAX_UPLOAD_MB, PHOTO
from humanmv.app.clips import first_clip, glb_clip_names
from humanmv.app.runner import stage_names
from humanmv.generators import GeneratorChoice
from humanmv.errors import InputImageError
from humanmv.io.glb import read_glb
from humanmv.io.images import load_image


def _glb_at(url: str, path):
    """Download `url` to `path`."""
    with urllib.request.urlopen(url, timeout=30) as reply:
        path.write_bytes(reply.read())
    return path


def _binary(glb) -> bytes:
    return read_glb(glb)[1]


def _check_result(page, members: dict[str, bytes], views: int, size: int) -> None:
    """The zip holds every output, with `views` views of size x size; the page shows them."""
    names = [f"views/{i:03d}.png" for i in range(views)]
    for name in ["avatar.glb", "avatar.json", "turntable.mp4", "cameras.json", "run.json", *names]:
        assert name in members, f"{name} missing from the zip ({sorted(members)[:8]}...)"
    assert sorted(n for n in members if n.startswith("views/")) == names
    assert {png_size(members[n]) for n in names} == {(size, size, "RGBA")}
    assert page.locator("#gallery img").count() == views


def test_photo_to_views_viewer_video_and_zip(app_server, guarded, tmp_path):
    page = guarded.page
    open_page(page, app_server.url)
    kind, text = upload_and_wait(page, PHOTO)
    assert kind == "ok" and text.startswith("astronaut.jpg: 512x512"), text
    set_number(page, "views-count", 4)
    set_number(page, "size", 128)
    page.evaluate(RECORD_PROGRESS)
    kind, text = generate(page)
    assert kind == "ok", text
    assert text.startswith("4 body views in "), text

    # Progress: the Studio's stage names, in their order, through to the page's own.
    expected = stage_names(GeneratorChoice.make("prior"))
    seen = progress_stages(page)
    assert seen == [s for s in expected if s in seen], f"stages out of order: {seen}"
    assert "write outputs" in seen and len(seen) >= 2, f"too few stages shown: {seen}"

    members = zip_members(download_zip(page))
    _check_result(page, members, views=4, size=128)

    # The viewer draws the zip's avatar.glb (or its copy with the chosen clip first) and offers
    # exactly its clips; choosing one shows the copy with that clip first.
    wait_viewer_drawn(page)
    avatar = tmp_path / "avatar.glb"
    avatar.write_bytes(members["avatar.glb"])
    clips = glb_clip_names(avatar)
    glb_url = viewer_file_url(page)
    shown = _glb_at(glb_url, tmp_path / "shown.glb")
    if clips:
        assert glb_clip_names(shown)[0] == first_clip(clips)
        assert sorted(glb_clip_names(shown)) == sorted(clips) and _binary(shown) == _binary(avatar)
        page.click("#clip input")
        options = page.locator("#clip li[role=option]")
        assert [options.nth(i).get_attribute("aria-label") for i in range(options.count())] == clips
        other = next(c for c in reversed(clips) if c != first_clip(clips)) if len(clips) > 1 else clips[0]
        page.locator(f"#clip li[role=option][aria-label='{other}']").click()
        if other != first_clip(clips):
            page.wait_for_function("old => document.querySelector("
                                   "'#viewer a[data-testid=model3d-download-link]').href !== old",
                                   arg=glb_url, timeout=30_000)
        assert glb_clip_names(_glb_at(viewer_file_url(page), tmp_path / "chosen.glb"))[0] == other
    else:
        assert shown.read_bytes() == members["avatar.glb"]
        assert page.locator("#clip input").is_disabled()
        assert "no animation clips" in page.inner_text("#clip")

    # The turntable decodes in the browser (H.264 in an mp4).
    page.wait_for_function("() => { const v = document.querySelector('#turntable video');"
                           " return v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    assert not guarded.external, f"the page fetched from outside: {guarded.external}"
    assert not guarded.errors, guarded.errors

    # Closing the page ends the session: its job folder goes.
    job = next(p for p in app_server.jobs() if p.name in glb_url)
    guarded.close()
    deadline = time.monotonic() + 30
    while job.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not job.exists(), "the job folder outlived its session"


def test_the_default_sixteen_views(app_server, guarded):
    page = guarded.page
    open_page(page, app_server.url)
    assert page.locator("#views-count input[type=number]").input_value() == "16"
    upload_and_wait(page, PHOTO)
    set_number(page, "size", 128)
    kind, text = generate(page)
    assert kind == "ok" and text.startswith("16 body views in "), text
    _check_result(page, zip_members(download_zip(page)), views=16, size=128)
    assert not guarded.external, guarded.external


def _bad_files(folder):
    """name -> bytes of uploads load_image refuses: not an image, empty, truncated JPEG, a PNG
    whose header says 9000x7000 (63 MP, over the 50 MP limit)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 7000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    files = {"notes.jpg": b"a shopping list, not a photo", "empty.jpg": b"",
             "half.jpg": PHOTO.read_bytes()[:30_000], "huge.png": huge}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return list(files)


def _cli_message(folder, name: str, monkeypatch) -> str:
    """What `humanmv generate NAME` prints after "humanmv: error: " when run in `folder`."""
    monkeypatch.chdir(folder)
    with pytest.raises(InputImageError) as info:
        load_image(name)
    return str(info.value)


def test_bad_uploads_get_the_cli_messages_and_the_server_goes_on(app_server, guarded, tmp_path, monkeypatch):
    page = guarded.page
    open_page(page, app_server.url)
    for name in _bad_files(tmp_path):
        expected = _cli_message(tmp_path, name, monkeypatch)
        kind, text = upload_and_wait(page, tmp_path / name)
        assert (kind, text) == ("error", expected)
    # Generate with the last bad photo: the same line, no job folder left behind.
    jobs_before = app_server.jobs()
    assert generate(page, 30_000) == ("error", expected)
    assert app_server.jobs() == jobs_before

    # Over --max-upload-mb: refused before it is stored (gradio's own check and message).
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * int(1.5 * MAX_UPLOAD_MB * 2**20))
    upload(page, big)
    page.wait_for_selector(".toast-body", timeout=10_000)
    assert "exceed the maximum allowed size" in page.inner_text(".toast-body")
    assert not list(app_server.workdir.rglob("big.jpg"))

    # The server still serves a job.
    kind, text = upload_and_wait(page, PHOTO)
    assert kind == "ok", text
    set_number(page, "views-count", 2)
    set_number(page, "size", 64)
    kind, text = generate(page)
    assert kind == "ok" and text.startswith("2 body views"), text
    assert not guarded.external, guarded.external
