"""Running a benchmark command as a user does: a subprocess of this interpreter, on an embedded
Temporal of its own (TEMPORAL_ADDRESS left out), py-spy on its PATH (the test extra installs it
beside this interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_command(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m module args`, answered within 300 s; asserts that it succeeded."""
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    """`goalflow bench args`."""
    return run_command("goalflow.cli", "bench", *args)


def bench_json(module: str, *args: str) -> dict[str, Any]:
    """The JSON object a benchmark command prints on stdout (its only output there)."""
    report: dict[str, Any] = json.loads(run_command(module, *args).stdout)
    return report
