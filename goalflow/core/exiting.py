"""Leaving a process that used Temporal with the exit code it chose.

The Temporal SDK runs a native (Rust) runtime whose threads may call into Python while the
interpreter tears itself down at exit; the interpreter then aborts the process (SIGABRT, "Fatal
Python error: PyGILState_Release: thread state ... must be current when releasing", reported as
temporalio/sdk-python#300). A worker refusing to start would exit with -6 instead of 1, and a
supervisor would read a crash. So the commands end by flushing what they wrote and leaving at
once, without the teardown: everything they hold (servers, subprocesses, files) is closed by
the command itself before it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def run_and_exit(command: Callable[[], object]) -> NoReturn:
    """Run `command`, then leave the process with its exit code, as the interpreter would
    have: 0 when it returns, `SystemExit`'s code (a message is printed and means 1), 130 on
    Ctrl-C, 1 with the traceback on any other exception."""
    try:
        command()
        code = 0
    except SystemExit as exited:
        code = _exit_code(exited.code)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing more to say
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
