"""The floor workflow's worker as a process of its own (`goalflow bench --worker-process`), so the
floor runs under the same conditions as the goalflow worker it is compared with."""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.worker import Worker

from goalflow.core.settings import Settings
from goalflow.core.temporal import connect
from goalflow_bench.floor import FloorWorkflow


async def run(task_queue: str) -> None:
    client = await connect(Settings())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[FloorWorkflow]):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1]))
