"""Driving the demo page in Chromium: the few things a user does (upload, set a number, press
Generate, choose a clip, download) and what the tests read back (status line, progress stages,
the viewer's canvas, the gallery, the video, the zip).

Waiting goes through Playwright calls (`wait_for_function`, `wait_for_timeout`), never
`time.sleep`: the pages route every request through Python, which only answers while a
Playwright call runs.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# Every text the progress bars show, in order of first appearance (gradio draws the stage
# name as "STAGE - 12.5%"); installed before Generate is pressed.
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const seen = new Set();
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.progress-text, .meta-text, .meta-text-center, .progress-level-inner')) {
      const text = el.innerText.trim();
      if (text && !seen.has(text)) { seen.add(text); window.__progress.push(text); }
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


class GuardedPage:
    """A Playwright page that refuses (and records) every request leaving 127.0.0.1."""

    def __init__(self, browser, viewport=(1280, 1000)) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.external: list[str] = []
        self.errors: list[str] = []
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        self.page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#generate")


def upload(page, path: Path) -> None:
    """Put `path` in the photo box, first clearing the photo it holds (as a user would)."""
    box = page.locator("#photo input[type=file]")
    if not box.count():
        page.locator("#photo button[aria-label=Clear]").click()
    box.set_input_files(str(path))


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def answer_number(page) -> int:
    """The number of the status line now shown (0: none yet)."""
    found = page.locator("#status p[data-answer]")
    return int(found.get_attribute("data-answer")) if found.count() else 0


def wait_answer(page, after: int, timeout_ms: float = 120_000) -> tuple[str, str]:
    """Wait for a status line newer than answer `after`; returns (kind, text)."""
    page.wait_for_function(
        "n => { const p = document.querySelector('#status p[data-answer]');"
        " return p && Number(p.dataset.answer) > n; }", arg=after, timeout=timeout_ms)
    line = page.locator("#status p[data-answer]")
    return line.get_attribute("class"), line.inner_text()


def upload_and_wait(page, path: Path) -> tuple[str, str]:
    before = answer_number(page)
    upload(page, path)
    return wait_answer(page, before, 30_000)


def generate(page, timeout_ms: float = 180_000) -> tuple[str, str]:
    """Press Generate and wait for its answer: (kind, text)."""
    before = answer_number(page)
    page.click("#generate")
    return wait_answer(page, before, timeout_ms)


def progress_stages(page) -> list[str]:
    """Stage names the progress bar showed since RECORD_PROGRESS, in order."""
    stages: list[str] = []
    for text in page.evaluate("window.__progress || []"):
        match = re.match(r"^(.*) - [\d.]+%$", text.replace("\n", " ").strip())
        if match and match[1] not in stages:
            stages.append(match[1])
    return stages


def canvas_ink(page, selector: str = "#viewer canvas", background: int = 250) -> float:
    """Share of the viewer's pixels that are not (near) white, the background it clears to;
    the top 40 rows, under the block's label and buttons, are left out."""
    shot = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB"))[40:]
    return float((shot.min(axis=2) < background).mean())


def wait_viewer_drawn(page, selector: str = "#viewer canvas", least: float = 0.03,
                      timeout_ms: float = 60_000) -> float:
    """Wait until the viewer draws a model on more than `least` of its pixels (the avatar,
    framed by the viewer, covers ~10%); returns that share."""
    page.wait_for_selector(selector, timeout=timeout_ms)
    waited, ink = 0.0, 0.0
    while waited < timeout_ms:
        ink = canvas_ink(page, selector)
        if ink > least:
            return ink
        page.wait_for_timeout(500)
        waited += 500
    raise AssertionError(f"the 3D viewer drew too little in {timeout_ms / 1000:.0f} s ({ink:.4f} of pixels)")


def viewer_file_url(page) -> str:
    """The URL of the file the 3D viewer shows (its download link)."""
    link = page.locator("#viewer a[data-testid=model3d-download-link]")
    link.wait_for(state="attached")
    return link.get_attribute("href")


def download_zip(page) -> zipfile.ZipFile:
    with page.expect_download() as event:
        page.click("#download")
    return zipfile.ZipFile(io.BytesIO(Path(event.value.path()).read_bytes()))


def zip_members(archive: zipfile.ZipFile) -> dict[str, bytes]:
    """The zip's files by their path inside its one top folder."""
    names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert len(tops) == 1, f"the zip should hold one folder, it holds {sorted(tops)}"
    return {name.split("/", 1)[1]: archive.read(name) for name in names}


def png_size(data: bytes) -> tuple[int, int, str]:
    image = Image.open(io.BytesIO(data))
    return image.width, image.height, image.mode
