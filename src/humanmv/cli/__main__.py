"""`python -m humanmv.cli`: the `humanmv` command."""

from humanmv.cli import main

main()
