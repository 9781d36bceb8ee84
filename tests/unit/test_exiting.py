"""`run_and_exit`: a command leaves with the code it chose, its output flushed, without the
interpreter's teardown (where the Temporal SDK's native threads may abort the process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import sys
from goalflow.core.exiting import run_and_exit

def command():
    print("written", end="")  # no newline: still flushed
    print("to stderr", end="", file=sys.stderr)
    {body}

run_and_exit(command)
"""


def _run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(body=body)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("return None", 0),
        ("raise SystemExit(3)", 3),
        ("raise SystemExit(None)", 0),
        ("raise KeyboardInterrupt", 130),
    ],
)
def test_the_exit_code_is_the_commands(body: str, code: int) -> None:
    done = _run(body)
    assert done.returncode == code, done.stderr
    assert done.stdout == "written"
    assert done.stderr.startswith("to stderr")


def test_a_message_is_printed_and_means_1() -> None:
    done = _run('raise SystemExit("the namespace lacks GoalflowReached")')
    assert done.returncode == 1
    assert done.stderr == "to stderrthe namespace lacks GoalflowReached\n"


def test_an_exception_prints_its_traceback_and_means_1() -> None:
    done = _run('raise ValueError("bad")')
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ValueError: bad" in done.stderr
