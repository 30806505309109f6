"""The demo page (gradio Blocks) and `launch`, what `humanmv app` runs.

One `Studio` is loaded before the page is served and shared by every job (it is thread-safe);
`jobs.JobQueue` decides which jobs run, wait or are refused; `store.JobStore` owns the job
folders; `runner.run_job` runs one job. The page works offline: system fonts, no analytics, no
share link, gradio's own Model3D viewer (bundled Babylon.js) for the avatar. Gradio is imported
only inside these functions, after `launch` has pointed its temporary folder (GRADIO_TEMP_DIR)
into the app's work folder, so uploads, gradio's cache and the job folders all live there and
job files are served from where they are written (gradio copies only files outside its cache).
"""


import contextlib
import html
import itertools
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from humanmv.app.config import MAX_PAGE_VIEWS, PAGE_SIZES, AppConfig
from humanmv.app.fit_cache import FitCache
from humanmv.app.jobs import Busy, JobQueue
from humanmv.app.store import JobStore

MODES = ("auto", "body", "head")
CSS = """
#status .ok { color: #15803d; }
#status .error { color: #b91c1c; font-weight: 600; }
#status .busy { color: #b45309; font-weight: 600; }
"""


@dataclass
class Services:
    """What every job of the server shares: the loaded models, the queue, the job folders."""

    studio: object
    queue: JobQueue
    store: JobStore
    fits: FitCache
    config: AppConfig


_answers = itertools.count(1)


def status_html(kind: str, text: str) -> str:
    """The status line: kind is "ok", "error" or "busy"; text is shown as is (escaped). Each
    answer carries its own number, so the page redraws even when a text repeats (the same
    bad photo checked on upload and again on Generate)."""
    return f'<p class="{kind}" data-answer="{next(_answers)}">{html.escape(text)}</p>'


def _summary(result) -> str:
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    reused = " (fit reused)" if result.fit_reused else ""
    return f"{len(result.views)} {result.mode} views in {result.seconds:.1f} s{reused}: {stages}"


def theme():
    """Gradio's default look with the system's fonts (the default theme loads web fonts)."""
    import gradio as gr

    return gr.themes.Default(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"])


def avatar_viewer(value: str | None = None, elem_id: str = "viewer", height: int = 440):
    """The page's 3D viewer: gradio's Model3D (Babylon.js, bundled with gradio), which plays
    the first animation clip of a GLB in a loop (`clips` puts the chosen clip first)."""
    import gradio as gr

    # The viewer's own framing cuts the head off some clips' first frames; from 2.6 m a standing
    # adult fits whole.
    return gr.Model3D(value, label="Avatar (drag to turn, scroll to zoom)", height=height, elem_id=elem_id,
                      clear_color=(1.0, 1.0, 1.0, 1.0), camera_position=(None, None, 2.6))


def viewer_file(job: Path, clip: str | None) -> Path:
    """The GLB the viewer shows for `clip` of job folder `job`'s avatar: avatar.glb itself when
    the clip is its first (or it has none), else a copy with the clip first (made once)."""
    from humanmv.app.clips import glb_clip_names, glb_with_clip_first

    glb = job / "out" / "avatar.glb"
    names = glb_clip_names(glb)
    if clip is None or names.index(clip) == 0:
        return glb
    copy = job / "viewer" / f"avatar-clip{names.index(clip)}.glb"
    if not copy.exists():
        glb_with_clip_first(glb, clip, copy)
    return copy


def build_demo(services: Services):
    """The page: upload and settings on the left; status, 3D viewer with its clip choice, the
    views, the turntable and the zip download on the right."""
    import gradio as gr

    from humanmv.app.clips import first_clip, glb_clip_names
    from humanmv.app.runner import JobSettings, run_job
    from humanmv.app.uploads import load_upload, thumbnail
    from humanmv.errors import HumanMVError
    from humanmv.generators import available_generators

    config = services.config
    generators = available_generators()

    def on_upload(photo):
        if photo is None:
            return None, ""
        try:
            loaded = load_upload(photo)
        except HumanMVError as err:
            return None, status_html("error", str(err))
        return thumbnail(loaded), status_html("ok", f"{Path(photo).name}: {loaded.width}x{loaded.height}, "
                                                    "ready to generate")

    def on_generate(photo, mode, generator, views, size, seed, request: gr.Request,
                    progress=gr.Progress()):
        skip = (gr.skip(),) * 5
        if photo is None:
            return (status_html("error", "upload a photo of a person first"),) + skip
        settings = JobSettings(mode=mode, generator=generator, views=int(views), size=int(size), seed=int(seed or 0))
        folder = None
        try:
            with services.queue.slot(lambda place: progress(0.0, desc=f"waiting for a free worker "
                                                                      f"({place} in line)")):
                folder = services.store.new()
                result = run_job(services.studio, photo, settings, folder, services.fits,
                                 lambda fraction, stage: progress(fraction, desc=stage))
        except Busy as err:
            return (status_html("busy", str(err)),) + skip
        except HumanMVError as err:
            if folder is not None:
                services.store.discard(folder)
            return (status_html("error", str(err)),) + skip
        except BaseException:
            if folder is not None:
                services.store.discard(folder)
            raise
        clips = result.clips
        clip = first_clip(clips)
        shown = viewer_file(folder, clip)
        services.store.finish(folder, request.session_hash)
        gallery = [(str(p), f"view {p.stem}") for p in result.views]
        return (status_html("ok", _summary(result)), str(shown),
                gr.update(choices=clips, value=clip, interactive=bool(clips),
                          info=None if clips else "this avatar has no animation clips"),
                gallery, str(result.video), gr.update(value=str(result.archive), interactive=True))

    def on_clip(clip, request: gr.Request):
        job = services.store.job_of(request.session_hash)
        if job is None or not clip or clip not in glb_clip_names(job / "out" / "avatar.glb"):
            return gr.skip()
        return str(viewer_file(job, clip))

    def on_unload(request: gr.Request):
        services.store.end_session(request.session_hash)

    with gr.Blocks(title="humanmv", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("## humanmv: one photo of a person, views all round and a 3D avatar")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                photo = gr.File(label="Photo (JPEG, PNG, WebP, BMP, TIFF)", file_count="single", type="filepath",
                                elem_id="photo")
                preview = gr.Image(label="Your photo", interactive=False, height=200, elem_id="preview",
                                   buttons=[])
                mode = gr.Radio(list(MODES), value="auto", label="Mode",
                                info="body, head, or auto (body if the torso is visible)", elem_id="mode")
                generator = gr.Dropdown(generators, value=generators[0], label="Generator", elem_id="generator")
                views = gr.Slider(1, MAX_PAGE_VIEWS, value=config.views, step=1, label="Views", elem_id="views-count")
                size = gr.Slider(*PAGE_SIZES, value=config.size, step=32, label="View size (pixels)", elem_id="size")
                seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="seed")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column(scale=3):
                status = gr.HTML("", elem_id="status")
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        viewer = avatar_viewer()
                    with gr.Column(scale=2, min_width=240):
                        video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True,
                                         height=340, elem_id="turntable")
                        clip = gr.Dropdown([], label="Animation clip", interactive=False, elem_id="clip")
                gallery = gr.Gallery(label="Views", columns=8, height=300, object_fit="contain",
                                     elem_id="gallery")
                download = gr.DownloadButton("Download all outputs (zip)", interactive=False, elem_id="download")

        photo.upload(on_upload, photo, [preview, status], concurrency_limit=None, api_name="check_photo")
        photo.clear(lambda: (None, ""), None, [preview, status], concurrency_limit=None, api_name=False)
        # The JobQueue bounds the work; gradio starts every request at once so it can answer "busy".
        run.click(on_generate, [photo, mode, generator, views, size, seed],
                  [status, viewer, clip, gallery, video, download], concurrency_limit=None, api_name="generate")
        clip.input(on_clip, clip, viewer, concurrency_limit=None, api_name="choose_clip")
        demo.unload(on_unload)
    return demo


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def launch(config: AppConfig) -> None:
    """Load the models, serve the page at config.host:config.port until Ctrl-C or SIGTERM,
    then remove the job folders (and the work folder when it was a temporary one)."""
    config.check()
    made_root = config.workdir is None
    root = Path(tempfile.mkdtemp(prefix="humanmv-app-")) if made_root else Path(config.workdir)
    root.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(root.resolve())
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    store = JobStore(root, config.keep_jobs)
    try:
        from humanmv.studio import Studio

        studio = Studio(device=config.device, texture_size=config.texture_size)
        services = Services(studio, JobQueue(config.workers, config.queue), store,
                            FitCache(config.fit_cache_mb * 2**20), config)
        demo = build_demo(services)
        # SIGTERM (a service manager, a test) ends the server like Ctrl-C, so cleanup runs.
        signal.signal(signal.SIGTERM, _interrupt)
        print(f"humanmv app: http://{config.host}:{config.port} (workers {config.workers}, "
              f"queue {config.queue}, work folder {root})", flush=True)
        demo.launch(server_name=config.host, server_port=config.port, share=False, ssr_mode=False,
                    max_file_size=config.max_upload_mb * 2**20, max_threads=config.capacity + 16,
                    allowed_paths=[str(root)], theme=theme(), css=CSS, quiet=True, show_error=False,
                    footer_links=["api", "settings"], mcp_server=False, pwa=False, enable_monitoring=False)
    finally:
        store.close()  # gradio has removed its own files (uploads, copies) by now
        if made_root:
            shutil.rmtree(root, ignore_errors=True)
        else:
            _remove_empty_leftovers(root)


def _remove_empty_leftovers(root: Path) -> None:
    """Remove what gradio leaves in its folder once it has deleted its files: a folder per
    upload and an empty temporary file per browser upload; deepest first, only if empty."""
    for folder, _, files in sorted(os.walk(root), key=lambda entry: -entry[0].count(os.sep)):
        for name in files:
            path = Path(folder, name)
            with contextlib.suppress(OSError):
                if path.stat().st_size == 0:
                    path.unlink()
        if Path(folder) != root:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # fails, and is left, when not empty
