"""`humanmv setup`: build what is built once, and prove every model loads on this machine."""

from __future__ import annotations

import time

# The texture sizes worth building ahead: 1024 is `generate`'s default, 512 the bench's and the
# training conditions' (and the suite's), 256 the suite's small runs. Each is built once (~1-4 s).
TEXTURE_CACHE_SIZES = (1024, 512, 256)


def run_setup() -> None:
    """Build the Anny cache under $HUMANMV_CACHE (~45-90 s the first time, then ~0.3 s), open the
    EGL renderer, build the texture correspondences at each of `TEXTURE_CACHE_SIZES` (~5 s in
    all the first time), load the perception models once, install the ST-LPIPS weights (the
    metric's wheel fetched from PyPI once, ~64 MB) and load every registered generator with its
    shipped weights. Prints one line per step."""
    from humanmv.paths import cache_dir, configure_third_party_caches

    configure_third_party_caches()
    print(f"humanmv cache: {cache_dir()}")
    t = time.perf_counter()
    from humanmv.body.anny_model import AnnyBody, BodyParams

    body = AnnyBody()
    out = body(BodyParams.neutral(1, len(body.expression_names)))
    height = float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())
    print(f"  anny body model: {body.num_vertices} vertices, {len(body.faces)} faces, "
          f"neutral height {height:.2f} m ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    from humanmv.cameras import orbit_cameras
    from humanmv.render import Renderer, context_info

    renderer = Renderer()
    render = renderer.render(body.mesh(out.vertices[0]), orbit_cameras([0.0], 0.0, 3.0, 40.0, 64, 64),
                             outputs=("mask",))
    info = context_info()
    print(f"  renderer: {info.get('GL_RENDERER', '?')} (mask coverage {float(render.mask.mean()):.2f}, "
          f"{time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    from humanmv.body.avatar_texture import TextureBuilder

    for size in TEXTURE_CACHE_SIZES:
        TextureBuilder(body, renderer, size)
    sizes = ", ".join(str(size) for size in TEXTURE_CACHE_SIZES)
    print(f"  texture correspondences ({sizes}): cached ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    from humanmv.perception import Perceiver

    perceiver = Perceiver()
    perceiver.warm_up()
    print(f"  perception models (mediapipe, dlib): loaded ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    from humanmv.eval.stlpips_weights import install_stlpips_weights, load_stlpips, stlpips_installed

    fetched = not stlpips_installed()
    if fetched:  # from the stlpips-pytorch wheel on PyPI (its weight files only; never imported)
        install_stlpips_weights()
    load_stlpips("alex")
    print(f"  ST-LPIPS weights (stlpips-pytorch 0.0.2): {'installed' if fetched else 'cached'} "
          f"({time.perf_counter() - t:.1f} s)")
    from humanmv.models.pose_lifter import load_pose_lifter

    load_pose_lifter()  # the body fit's limb depth: a broken package fails here
    print("  pose lifter: loaded")
    t = time.perf_counter()
    import torch

    from humanmv.generators import GeneratorChoice, GeneratorContext, available_generators

    context = GeneratorContext(renderer, body, torch.device("cpu"))
    names = available_generators()
    for name in names:  # each with its shipped weights, so a broken package fails here
        choice = GeneratorChoice.make(name)
        choice.spec.factory(context, choice.options, choice.weights)
    print(f"  generators: {', '.join(names)}: loaded ({time.perf_counter() - t:.1f} s)")
    print("setup complete")
