"""The shared GL context works from any thread, including when another thread created it (a
server loads its Studio in the main thread and renders in worker threads)."""

from __future__ import annotations

import subprocess
import sys

# A fresh process: the context is created once per process, here in the main thread.
_SCRIPT = """
import threading
import torch
from humanmv.cameras import orbit_cameras
from humanmv.render import Renderer
from humanmv.render.mesh import Mesh

renderer = Renderer()
verts = torch.tensor([[-1., -1., 0.], [1., -1., 0.], [0., 1., 0.]])
mesh = Mesh(verts, torch.tensor([[0, 1, 2]]))
cams = orbit_cameras([0.0], 0.0, distance=4.0, width=16, height=16)
out = {}
thread = threading.Thread(target=lambda: out.setdefault("mask", renderer.render(mesh, cams, ("mask",)).mask))
thread.start()
thread.join()
main = renderer.render(mesh, cams, ("mask",)).mask
print(int(out["mask"].sum()), int(main.sum()), bool(torch.equal(out["mask"], main)))
"""


def test_a_worker_thread_renders_on_a_context_the_main_thread_created() -> None:
    run = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    in_thread, in_main, equal = run.stdout.split()
    assert int(in_thread) > 20 and equal == "True", run.stdout
