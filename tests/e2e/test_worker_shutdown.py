"""A worker asked to stop stops within a bound, even with a workflow task stuck for good."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import assert_eventually
from worker import SHUTDOWN_DEADLINE

ROOT = Path(__file__).resolve().parents[2]


async def test_sigterm_ends_a_worker_whose_workflow_task_is_stuck(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"stuck-{uuid.uuid4()}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "GOALFLOW_TASK_QUEUE": queue,
        "GOALFLOW_DEV": "true",
        "GOALFLOW_DATA_DIR": str(tmp_path),
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.stuck_worker",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        await assert_eventually(
            lambda: asyncio.sleep(0, log.read_text()), lambda text: "worker polling" in text
        )
        await dev_env.client.start_workflow(
            "StuckWorkflow", id=f"stuck-{uuid.uuid4()}", task_queue=queue
        )
        # The SDK gives up on the task after 2 s and tries to interrupt it; it stays stuck.
        await assert_eventually(
            lambda: asyncio.sleep(0, log.read_text()),
            lambda text: "TMPRL1101" in text,
            within=60,
        )
        process.send_signal(signal.SIGTERM)
        # A generous bound above the deadline: the process exits at the deadline, not before
        # the SDK's graceful shutdown has had its time.
        code = await asyncio.wait_for(process.wait(), SHUTDOWN_DEADLINE.total_seconds() + 30)
        assert code != 0, "the stuck task's thread was left, not finished"
        assert "exceeded its deadline" in log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
