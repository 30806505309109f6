"""Real clients for the tests: Debian's headless Chromium driven by Playwright, a static file
server on localhost, and the npm packages installed in tests/clients/node_modules.

Chromium is the system one (no browser download): the set-up installs Debian's `chromium`.
WebGL runs on SwiftShader (software), so three.js pages render on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Iterator

CLIENTS = Path(__file__).resolve().parent
NODE_MODULES = CLIENTS / "node_modules"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Without the background-networking flags Chromium keeps trying hosts this closed network
# refuses; SwiftShader gives WebGL without a GPU.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
]


def require_client(path: Path | str, what: str) -> Path:
    """`path` as a Path; a failure (never a skip) naming the set-up step when it is missing."""
    path = Path(path)
    if not path.exists():
        raise AssertionError(f"{what} is missing at {path}: run `bash scripts/setup.sh --test-clients`")
    return path


@contextlib.contextmanager
def chromium_browser() -> Iterator[object]:
    """A headless Playwright Browser on the system Chromium."""
    from playwright.sync_api import sync_playwright

    require_client(CHROMIUM, "Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".glb": "model/gltf-binary"}

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 at a free port; yields the base URL ("http://127.0.0.1:PORT")."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
