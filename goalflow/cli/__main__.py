"""`python -m goalflow.cli`: the `goalflow` command."""

from goalflow.cli.commands import main

main()
