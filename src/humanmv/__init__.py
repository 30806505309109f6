"""humanmv: one photo of a person -> consistent multi-view images and a 3D avatar."""

from humanmv.errors import HumanMVError

__version__ = "0.1.0"
__all__ = ["HumanMVError", "__version__"]
