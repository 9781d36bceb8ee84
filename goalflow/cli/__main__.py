"""`python -m goalflow.cli`: the `goalflow` command."""

from goalflow.cli.commands import main

# Guarded: tests/test_wheel.py imports every module of the wheel.
if __name__ == "__main__":
    main()
