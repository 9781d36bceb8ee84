"""The floor of the throughput benchmark: the bare Temporal cost of the reference work's shape.

A workflow that is started, races a 1 s timer against one signal, and completes. No activity, no
child, no search attributes: what any Temporal application pays for "start, wait for an event or
a timeout, finish". Registered only by the benchmark, on a task queue of its own.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

FLOOR_SIGNAL = "clicked"


@workflow.defn(name="BenchFloorWorkflow")
class FloorWorkflow:
    def __init__(self) -> None:
        self.clicked = False

    @workflow.run
    async def run(self, wait_seconds: float) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self.clicked, timeout=timedelta(seconds=wait_seconds)
            )
        except TimeoutError:
            return False
        return True

    @workflow.signal(name=FLOOR_SIGNAL)
    def click(self) -> None:
        self.clicked = True
