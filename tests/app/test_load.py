"""The server under load, through gradio's own Python client (one client per user, as
browsers are): a burst of 8 jobs on a server of 1 worker + a queue of 2 gives exactly 3 results
and 5 "busy" answers at once; nothing crashes, memory stays bounded, disk holds at most
--keep-jobs job folders, and the server serves the next job. Uploads over --max-upload-mb are
refused by the server itself (not only by the page)."""

from __future__ import annotations

import html
import threading
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client, handle_file

from conftest import KEEP_JOBS, MAX_UPLOAD_MB, PHOTO, QUEUE, WORKERS
from humanmv.app.jobs import BUSY_MESSAGE

BURST = 8


def _job(client: Client, views: int = 4, size: int = 128):
    """(status kind, status text, local zip path or None) of one generate call."""
    status, _viewer, _clip, _gallery, _video, download = client.predict(
        handle_file(str(PHOTO)), "auto", "prior", views, size, 0, api_name="/generate")
    kind = status.split('class="', 1)[1].split('"', 1)[0]
    text = html.unescape(status.split(">", 1)[1].rsplit("</p>", 1)[0])
    path = download.get("value") if isinstance(download, dict) else download
    return kind, text, path


def _views(path) -> dict[str, bytes]:
    archive = zipfile.ZipFile(path)
    views = {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist() if "/views/" in n}
    assert len(views) == 4, sorted(views)
    return views


def test_a_burst_gets_exactly_workers_plus_queue_results(app_server):
    warm = Client(app_server.url, verbose=False)
    kind, _, warm_zip = _job(warm)  # models, caches and the photo's fit warmed up
    assert kind == "ok"
    rss_before = app_server.rss_mb()

    start = threading.Barrier(BURST)

    def user(_):
        client = Client(app_server.url, verbose=False)  # its own session, as each browser has
        start.wait()  # then all 8 at once
        return _job(client)

    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(user, range(BURST)))
    rss_after = app_server.rss_mb()

    done = [a for a in answers if a[0] == "ok"]
    busy = [a for a in answers if a[0] == "busy"]
    assert len(done) == min(BURST, WORKERS + QUEUE), answers
    assert len(busy) == BURST - len(done), answers
    assert {text for _, text, _ in busy} == {BUSY_MESSAGE.format(running=WORKERS, waiting=QUEUE)}
    first = _views(warm_zip)
    for _, text, path in done:
        assert text.startswith("4 body views in "), text
        assert "(fit reused)" in text
        assert _views(path) == first  # a reused fit gives the very views a fresh one gave
        assert any(n.endswith("/avatar.glb") for n in zipfile.ZipFile(path).namelist())
    # Bounded: 3 small jobs on a warm server add far less than a second model load would.
    print(f"server RSS {rss_before:.0f} MB before the burst, {rss_after:.0f} MB after")
    assert rss_after - rss_before < 500, (rss_before, rss_after)
    assert len(app_server.jobs()) <= KEEP_JOBS
    assert app_server.process.poll() is None
    assert _job(warm, views=2, size=64)[0] == "ok"  # and it goes on serving


def test_the_server_refuses_uploads_over_the_limit(app_server):
    body = b"\xff" * int(1.5 * MAX_UPLOAD_MB * 2**20)
    boundary = "humanmvtestboundary"
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(app_server.url + "gradio_api/upload", data=data, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("an upload over --max-upload-mb was accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 413
        assert f"maximum allowed size of {MAX_UPLOAD_MB * 2**20} bytes" in err.read().decode()
    assert not list(app_server.workdir.rglob("big.jpg"))
    with urllib.request.urlopen(app_server.url, timeout=10) as reply:
        assert reply.status == 200
