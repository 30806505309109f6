"""Renders per second of the offscreen renderer on the Anny body (or a sphere stand-in).

    .venv/bin/python benchmarks/render_speed.py [--size 512] [--views 8] [--runs 7]
        [--outputs mask,depth,normal] [--sphere]

One render = one camera view. Each run renders all views in one `Renderer.render` call (one mesh
upload, then one pass per view); the figure is views / seconds, the median over runs, after a
warm-up call that compiles the shaders. Target: 100 renders/s at 512x512 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

TARGET = 100.0


def anny_mesh():
    """The Anny body in its rest pose, converted to our Y-up, +Z-facing world frame."""
    from humanmv.render import Mesh

    os.environ.setdefault("ANNY_CACHE_DIR", os.path.expanduser("~/.cache/humanmv/anny"))
    import anny

    model = anny.Anny(skinning_method="lbs")
    with torch.no_grad():
        v = model()["vertices"][0].float()
    # Anny is Z up facing -Y: (x, y, z) -> (x, z, -y) is a rotation, so the winding is kept.
    v = torch.stack([v[:, 0], v[:, 2], -v[:, 1]], dim=1)
    v = v - (v.max(0).values + v.min(0).values) / 2
    return Mesh(v.contiguous(), model.get_triangular_faces().long()), "Anny body"


def sphere_mesh(n_lat: int = 117, n_lon: int = 118):
    """A UV sphere with about as many triangles as Anny (27,4xx), radius 0.8 m."""
    from humanmv.render import Mesh

    theta = torch.linspace(0, math.pi, n_lat + 1)[1:-1]
    phi = torch.arange(n_lon) * (2 * math.pi / n_lon)
    T, P = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([T.sin() * P.sin(), T.cos(), T.sin() * P.cos()], -1).reshape(-1, 3)
    v = torch.cat([torch.tensor([[0.0, 1, 0]]), ring, torch.tensor([[0.0, -1, 0]])]) * 0.8
    idx = lambda i, j: 1 + i * n_lon + j % n_lon  # noqa: E731
    faces = [[0, idx(0, j), idx(0, j + 1)] for j in range(n_lon)]
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            faces += [[a, c, b], [b, c, d]]
    last = len(v) - 1
    faces += [[last, idx(n_lat - 2, j + 1), idx(n_lat - 2, j)] for j in range(n_lon)]
    return Mesh(v.float(), torch.tensor(faces)), "UV sphere"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image width and height")
    parser.add_argument("--views", type=int, default=8, help="cameras per render call")
    parser.add_argument("--runs", type=int, default=7, help="timed calls (median reported)")
    parser.add_argument("--outputs", default="mask,depth,normal",
                        help="comma-separated outputs, e.g. mask,depth,normal,rgb,labels")
    parser.add_argument("--sphere", action="store_true", help="use a UV sphere, not Anny")
    args = parser.parse_args()

    from humanmv.cameras import view_set
    from humanmv.render import Renderer, context_info

    try:
        mesh, name = sphere_mesh() if args.sphere else anny_mesh()
    except ImportError:
        mesh, name = sphere_mesh()
    if "labels" in args.outputs and mesh.face_labels is None:
        mesh.face_labels = torch.arange(mesh.faces.shape[0]) % 7
    outputs = tuple(s.strip() for s in args.outputs.split(",") if s.strip())
    cameras = view_set(args.views, el_deg=10.0, distance=2.8, fov_deg=40.0,
                       width=args.size, height=args.size)
    renderer = Renderer()
    info = context_info()
    renderer.render(mesh, cameras, outputs)  # warm-up: shader compile, target allocation
    load = os.getloadavg()[0]

    rates = []
    for _ in range(args.runs):
        start = time.perf_counter()
        renderer.render(mesh, cameras, outputs)
        rates.append(args.views / (time.perf_counter() - start))
    rate = statistics.median(rates)
    print(f"{name}: {mesh.vertices.shape[0]} vertices, {mesh.faces.shape[0]} triangles; "
          f"{args.size}x{args.size}, {args.views} views/call, outputs {','.join(outputs)}")
    print(f"GL: {info['GL_RENDERER']} ({info['GL_VERSION']}); {os.cpu_count()} CPUs, torch "
          f"threads {torch.get_num_threads()}; load average before the runs {load:.2f} "
          "(other processes on these cores slow every figure down)")
    print(f"renders/s (median of {args.runs}): {rate:.1f}  "
          f"[min {min(rates):.1f}, max {max(rates):.1f}]; ratio to {TARGET:.0f}/s target: "
          f"{rate / TARGET:.2f}")


if __name__ == "__main__":
    main()
