"""The demo page: `humanmv app` serves a gradio page where a photo becomes views all round, a
turntable video and an interactive, animated 3D avatar, with a zip of every output.

    from humanmv.app import AppConfig
    from humanmv.app.server import launch

    launch(AppConfig(port=7860, workers=1, queue=4))   # blocks until Ctrl-C / SIGTERM

Modules, one idea each: `config` (AppConfig, its checks), `uploads` (a browser's upload through
the CLI's image checks), `jobs` (the job queue: workers, queue length, "busy"), `store` (job
folders on disk: per session, bounded, removed), `fit_cache` (photo fits reused across runs),
`clips` (a GLB's animation clips, the viewer's clip choice), `runner` (one job: photo ->
Studio -> output folder + zip), `server` (the gradio Blocks and `launch`). Only `server`
imports gradio, and only inside its functions, so the rest is importable (and testable) alone.
"""

from humanmv.app.config import AppConfig

__all__ = ["AppConfig"]
