"""humanmv's logger and its command-line set-up (shared by `humanmv` and `humanmv train`)."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("humanmv")


def setup_logging(quiet: bool) -> None:
    """humanmv's own log (warnings such as "several people found") on stderr; other packages'
    chatter only from WARNING up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("humanmv: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    logging.basicConfig(level=logging.WARNING)
