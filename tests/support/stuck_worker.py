"""`python -m tests.support.stuck_worker`: the goalflow worker (`run_worker`, as `goalflow
worker` runs it) with one more workflow, whose first task never returns: it blocks in a call
the SDK's deadlock interruption cannot reach. tests/e2e/test_worker_shutdown.py stops it with
SIGTERM."""

from __future__ import annotations

import asyncio
import threading

from temporalio import workflow

import worker


@workflow.defn(sandboxed=False)
class StuckWorkflow:
    @workflow.run
    async def run(self) -> None:
        threading.Event().wait()  # never set: the task's thread stays here for good


if __name__ == "__main__":
    worker.WORKFLOWS = (*worker.WORKFLOWS, StuckWorkflow)
    asyncio.run(worker.run_worker())
