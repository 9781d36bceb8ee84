"""A query the worker could not run in time (the SDK's "[TMPRL1101] Potential deadlock detected",
its 2 s deadline for workflow code) is the worker's being busy, not the workflow's answer: the
API says 503 with Retry-After, never "not found" or "refused"."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError

from goalflow.core.slow_worker import WorkerTooSlow, raise_if_worker_too_slow
from tests.support.helpers import assert_eventually
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


async def first_task_done(handle: WorkflowHandle[Any, Any]) -> bool:
    history = await handle.fetch_history()
    return any(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for event in history.events
    )


async def test_an_enrollment_whose_worker_is_too_busy_answers_503(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"busy-{uuid.uuid4()}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": stack.env.client.service_client.config.target_host,
        "GOALFLOW_TASK_QUEUE": queue,
        "GOALFLOW_DEV": "true",
        "GOALFLOW_DATA_DIR": str(tmp_path),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        # A worker of its own, in a process of its own: one whose query overran its deadline
        # does not shut down gracefully, so this one is killed at the end.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.stuck_worker", cwd=ROOT, env=env,
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        await assert_eventually(
            lambda: asyncio.sleep(0, log.read_text()), lambda text: "worker polling" in text
        )
        enrollment_id = f"enr:busy:{uuid.uuid4().hex[:8]}:1"
        handle = await stack.env.client.start_workflow(
            "BusyEnrollment", id=enrollment_id, task_queue=queue
        )
        # A query goes on its own once the first workflow task is done (one sent before rides
        # on that task: its failure fails the task, which is retried, the query unanswered).
        await assert_eventually(lambda: first_task_done(handle), bool)
        answer = await stack.http.get(f"/v1/enrollments/{enrollment_id}")
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert "too busy" in answer.json()["detail"]
        # The SDK's own words came through: the failed query was read as the worker's.
        assert "[TMPRL1101] Potential deadlock detected" in answer.json()["detail"]
        await handle.terminate()
    finally:
        process.kill()
        await process.wait()


def test_only_the_sdks_deadline_mark_is_too_slow() -> None:
    raise_if_worker_too_slow(WorkflowQueryFailedError("unknown queryType view"))
    raise_if_worker_too_slow(RuntimeError("no version 3 of 'welcome'"))
    with pytest.raises(WorkerTooSlow, match=r"retry shortly\. Temporal: \[TMPRL1101\] Potential"):
        raise_if_worker_too_slow(
            WorkflowQueryFailedError(
                "[TMPRL1101] Potential deadlock detected: workflow didn't yield within 2 second(s)."
            )
        )
