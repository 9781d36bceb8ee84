"""`python -m tests.support.stuck_worker`: the goalflow worker (`run_worker`, as `goalflow
worker` runs it) with two more workflows that keep the SDK's 2 s deadline for workflow code from
being met:
- `StuckWorkflow`, whose first task never returns: it blocks in a call the SDK's deadlock
  interruption cannot reach. tests/e2e/test_worker_shutdown.py stops it with SIGTERM.
- `BusyEnrollment`, whose `view` query takes longer than the deadline, as a worker too busy to
  give the workflow a turn would (tests/api/test_worker_too_slow.py). A worker whose activation
  overran does not shut down on its own: the test kills the process.
"""

from __future__ import annotations

import asyncio
import threading
import time

from temporalio import workflow

import worker

# Past the SDK's 2 s: every activation that runs the query is cut off.
STALL_SECONDS = 3.0


@workflow.defn(sandboxed=False)
class StuckWorkflow:
    @workflow.run
    async def run(self) -> None:
        threading.Event().wait()  # never set: the task's thread stays here for good


@workflow.defn(sandboxed=False)
class BusyEnrollment:
    """Stands where an enrollment is; its worker cannot answer a view in time."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def view(self) -> dict[str, str]:
        time.sleep(STALL_SECONDS)  # the thread does not yield, as in a starved process
        return {}


if __name__ == "__main__":
    worker.WORKFLOWS = (*worker.WORKFLOWS, StuckWorkflow, BusyEnrollment)
    asyncio.run(worker.run_worker())
