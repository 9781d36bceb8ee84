"""The launchers: the `goalflow` command (`commands.py`), the laptop stack it brings up
(`dev.py`), enrolling a file through the API (`enroll_file.py`) and the Temporal binaries they
run (`binaries.py`). They may import every other layer; nothing imports them but tests."""

from goalflow.cli.commands import app, main

__all__ = ["app", "main"]
