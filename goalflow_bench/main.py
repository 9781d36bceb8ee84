"""Running one benchmark: the stack, the run, the machine and versions around it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import structlog
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from goalflow_bench.cost import cost
from goalflow_bench.ingest import ingest
from goalflow_bench.populations import BENCHMARKS as POPULATIONS
from goalflow_bench.profile import profile
from goalflow_bench.report import Report, machine, note, versions
from goalflow_bench.runs import BENCHMARKS as RUNS
from goalflow_bench.runs import BenchOptions
from goalflow_bench.scale import scale
from goalflow_bench.stack import StackOptions, open_stack

BENCHMARKS = {
    **RUNS,
    "ingest": ingest,
    "scale": scale,
    **POPULATIONS,
    "cost": cost,
    "profile": profile,
}
KINDS = tuple(BENCHMARKS)

# Scale reads the worker's resident memory, profile samples the worker: a worker process of its
# own measures only that.
_WORKER_PROCESS_DEFAULT = {"scale": True, "profile": True}


async def run_benchmark(kind: str, options: BenchOptions) -> Report:
    if kind not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {kind!r}: one of {', '.join(KINDS)}")
    if options.keep is not None and kind != "scale":
        raise ValueError("--keep is for the scale benchmark only")
    worker_process = options.worker_process
    if worker_process is None:
        worker_process = _WORKER_PROCESS_DEFAULT.get(kind, False)
    found_machine = machine()
    stack_options = StackOptions(
        temporal_address=options.temporal_address,
        worker_process=worker_process,
        keep=Path(options.keep) if options.keep else None,
    )
    note(f"{kind}: starting the stack")
    # SIGTERM (`timeout`, a CI limit) stops the run like Ctrl-C: the stack is torn down, the
    # embedded server and any worker process with it.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    handled = False
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            handled = True
    try:
        async with open_stack(stack_options) as stack:
            info = await stack.client.workflow_service.get_system_info(GetSystemInfoRequest())
            note(f"{kind}: running")
            report = await BENCHMARKS[kind](stack, options)
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGTERM)
    report.machine = found_machine
    report.versions = versions(info.server_version or None)
    return report


def quiet_logs() -> None:
    """For the command: stdout carries the report alone, so the stack's logs (one line per
    request from the API) go to stderr, warnings and above only."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True)
