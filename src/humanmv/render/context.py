"""The one offscreen OpenGL context of a process (moderngl on Mesa's EGL, no display needed).

OpenGL contexts are expensive to create and a driver may allow only a few per process, so every
`Renderer` shares one context, created on first use. A GL context can be current in only one
thread at a time: callers hold `context_lock()` and enter the context (`with ctx:`) around GL work.
"""

from __future__ import annotations

import os
import threading

from humanmv.errors import HumanMVError

_INSTALL_HINT = "install Mesa's EGL (apt-get install libegl1 libgl1-mesa-dri)"
GL_VERSION = 330

_lock = threading.RLock()
_ctx = None
_ctx_pid: int | None = None


def context_lock() -> threading.RLock:
    """The lock that serialises all GL work on the shared context (re-entrant)."""
    return _lock


def get_context():
    """The process's standalone moderngl context (OpenGL >= 3.3), created lazily and cached.

    Tries the headless EGL backend first, then the platform default (GLX/WGL/CGL). A forked child
    gets a fresh context: GL state does not survive `fork`.

    Raises:
        HumanMVError: when no backend gives a context; the message says what to install.
    """
    global _ctx, _ctx_pid
    with _lock:
        if _ctx is not None and _ctx_pid == os.getpid():
            return _ctx
        try:
            import moderngl
        except ImportError as err:
            raise HumanMVError(f"moderngl is not importable ({err}); reinstall humanmv and "
                               f"{_INSTALL_HINT}") from None
        failures = []
        for kwargs in ({"backend": "egl"}, {}):
            try:
                ctx = moderngl.create_standalone_context(require=GL_VERSION, **kwargs)
            except Exception as err:  # backends fail with assorted exception types
                name = kwargs.get("backend", "default")
                failures.append(f"{name}: {' '.join(str(err).split())}")
                continue
            if kwargs:
                _release_egl_context()
            _ctx, _ctx_pid = ctx, os.getpid()
            return ctx
        raise HumanMVError("no offscreen OpenGL 3.3 context could be created ("
                           + "; ".join(failures) + f"); {_INSTALL_HINT}")


def _release_egl_context() -> None:
    """Make no EGL context current in this thread.

    `create_standalone_context` leaves the new context current in the thread that created it,
    and an EGL context current in one thread cannot be made current in another: `with ctx:` in
    any other thread would then leave GL calls without a context ("cannot create program").
    Released here, every `with ctx:` (in any thread) makes it current and releases it again.
    """
    import ctypes

    egl = ctypes.CDLL("libEGL.so.1")
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    egl.eglMakeCurrent.restype = ctypes.c_uint
    display = egl.eglGetCurrentDisplay()
    if display and not egl.eglMakeCurrent(display, None, None, None):
        raise RuntimeError("eglMakeCurrent could not release the new GL context")


def context_info() -> dict:
    """Renderer name, GL version and limits of the shared context (for logs and bug reports)."""
    ctx = get_context()
    with _lock, ctx:  # the info query needs the context current on this thread
        info = ctx.info
        return {key: info.get(key) for key in
                ("GL_RENDERER", "GL_VERSION", "GL_VENDOR", "GL_MAX_TEXTURE_SIZE",
                 "GL_MAX_DRAW_BUFFERS")}
