"""The `humanmv` Typer app every command module registers on, and `humanmv setup`."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="One photo of a person -> consistent multi-view images and a 3D avatar.")


@app.command()
def setup() -> None:
    """Build the one-time caches (Anny's parsed assets) and check every model loads."""
    from humanmv.setup_check import run_setup

    run_setup()
