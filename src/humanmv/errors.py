"""The one error family of humanmv.

Every error a user can cause (bad input, missing person, bad config) is a `HumanMVError` whose
message is one line that names the problem and the fix. The CLI prints that line and exits 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HumanMVError(Exception):
    """Base class: a problem the user can act on. `str(err)` is one line."""

    exit_code = 2


class InputImageError(HumanMVError):
    """The input image is missing, unreadable, empty, too large or not an image."""


class NoPersonError(HumanMVError):
    """No person (or no face, when one is needed) was found in the image."""


class ConfigError(HumanMVError):
    """An option, camera file or configuration value is invalid."""


class OutputError(HumanMVError):
    """The output location cannot be written (exists, not writable, ...)."""


class CheckpointError(HumanMVError):
    """A checkpoint folder is missing files or has tensors of the wrong shape."""
