"""humanmv: one photo of a person -> consistent multi-view images and a 3D avatar.

    from humanmv import Studio          # the library facade (see humanmv.studio)

`Studio` is imported on first use, so `import humanmv` (and the CLI's start) stays light.
"""

from humanmv.errors import HumanMVError

__version__ = "0.1.0"
__all__ = ["HumanMVError", "Studio", "__version__"]


def __getattr__(name: str):
    if name == "Studio":
        from humanmv.studio import Studio

        return Studio
    raise AttributeError(f"module 'humanmv' has no attribute {name!r}")
