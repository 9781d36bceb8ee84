"""No 500 left: every Temporal error reaching a route gets a clear 503/409/404 (with Retry-After
where retrying helps); `goalflow worker` started before Temporal waits for it; /readyz says
whether Temporal answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from goalflow.cli.binaries import temporal_cli
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack, free_port
from workflows.search_attributes import SEARCH_ATTRIBUTES

GOALFLOW = Path(sys.executable).parent / "goalflow"


@asynccontextmanager
async def app_with(
    goalflow: GoalflowService, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, goalflow.client)
    app.state.goalflow = goalflow  # what lifespan does
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield http


# --- a workflow whose task keeps failing, for real -------------------------------------------


@workflow.defn(name="ContactWorkflow", sandboxed=False)
class BrokenContactWorkflow:
    """A contact workflow whose code fails on every workflow task, as a bad deploy would."""

    @workflow.run
    async def run(self, state: Any) -> None:
        raise RuntimeError("a bug in the contact workflow")


async def test_a_workflow_task_in_failed_state_is_503_with_retry_after(
    dev_env: WorkflowEnvironment, stack: Stack
) -> None:
    task_queue = f"broken-{uuid.uuid4()}"
    contact = new_id()
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[BrokenContactWorkflow]):
        await dev_env.client.start_workflow(
            "ContactWorkflow", {}, id=f"contact:{contact}", task_queue=task_queue
        )
        goalflow = GoalflowService(dev_env.client, task_queue)
        settings = stack.settings.model_copy(update={"task_queue": task_queue})
        async with app_with(goalflow, settings) as http:
            event = {"contact_id": contact, "type": "custom", "data": {"name": "x"}}

            async def post() -> httpx.Response:
                return await http.post("/v1/events", json=event)

            # Until the first workflow task has failed, Temporal may still take the update.
            answer = await assert_eventually(post, lambda a: a.status_code != 202, within=30)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "30"
    assert "workflow task keeps failing" in answer.json()["detail"]


# --- every known Temporal error, mapped ------------------------------------------------------


def rpc(code: RPCStatusCode, message: str = "boom") -> RPCError:
    return RPCError(message, code, b"")


KNOWN: list[tuple[str, BaseException, int, str | None]] = [
    ("unavailable", rpc(RPCStatusCode.UNAVAILABLE), 503, "2"),
    ("deadline", rpc(RPCStatusCode.DEADLINE_EXCEEDED), 503, "2"),
    ("cancelled", rpc(RPCStatusCode.CANCELLED), 503, "2"),
    ("exhausted", rpc(RPCStatusCode.RESOURCE_EXHAUSTED), 503, "1"),
    ("aborted", rpc(RPCStatusCode.ABORTED), 503, "1"),
    ("internal", rpc(RPCStatusCode.INTERNAL), 503, "2"),
    ("unknown", rpc(RPCStatusCode.UNKNOWN), 503, "2"),
    ("data loss", rpc(RPCStatusCode.DATA_LOSS), 503, "2"),
    ("unimplemented", rpc(RPCStatusCode.UNIMPLEMENTED), 503, None),
    ("invalid", rpc(RPCStatusCode.INVALID_ARGUMENT), 503, None),
    ("denied", rpc(RPCStatusCode.PERMISSION_DENIED), 503, None),
    ("unauthenticated", rpc(RPCStatusCode.UNAUTHENTICATED), 503, None),
    ("not found", rpc(RPCStatusCode.NOT_FOUND), 404, None),
    ("exists", rpc(RPCStatusCode.ALREADY_EXISTS), 409, None),
    ("precondition", rpc(RPCStatusCode.FAILED_PRECONDITION), 409, None),
    (
        "task failed",
        rpc(
            RPCStatusCode.FAILED_PRECONDITION,
            "Unable to perform workflow execution update due to Workflow Task in failed state.",
        ),
        503,
        "30",
    ),
    (
        "closing",
        rpc(
            RPCStatusCode.FAILED_PRECONDITION,
            "Workflow execution closed before WorkflowTaskStarted event",
        ),
        409,
        None,
    ),
    ("rpc timeout", RPCTimeoutOrCancelledError("timed out"), 503, "1"),
    ("query failed", WorkflowQueryFailedError("the query handler raised"), 409, None),
    ("query rejected", WorkflowQueryRejectedError(None), 409, None),
    ("update failed", WorkflowUpdateFailedError(ApplicationError("nope", type="X")), 409, None),
    ("already started", WorkflowAlreadyStartedError("wf", "ContactWorkflow"), 409, None),
    ("connect", RuntimeError("Failed client connect: connection refused"), 503, "2"),
]


class FailingGoalflow(GoalflowService):
    """Every catalog read fails with the given error."""

    def __init__(self, error: BaseException, *args: Any) -> None:
        super().__init__(*args)
        self.error = error

    async def catalog(self) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [(e, s, r) for _, e, s, r in KNOWN],
    ids=[name for name, *_ in KNOWN],
)
async def test_known_temporal_errors_are_clear_answers(
    stack: Stack, error: BaseException, status: int, retry_after: str | None
) -> None:
    goalflow = FailingGoalflow(error, stack.env.client, stack.settings.task_queue)
    async with app_with(goalflow, stack.settings) as http:
        answer = await http.get("/v1/automations")
    assert answer.status_code == status, answer.text
    assert answer.headers.get("retry-after") == retry_after
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail


async def test_an_unrelated_runtime_error_is_still_a_bug(stack: Stack) -> None:
    goalflow = FailingGoalflow(RuntimeError("a bug"), stack.env.client, stack.settings.task_queue)
    async with app_with(goalflow, stack.settings) as http:
        assert (await http.get("/v1/automations")).status_code == 500


# --- readiness --------------------------------------------------------------------------------


async def test_readyz_follows_temporal(stack: Stack) -> None:
    assert (await stack.http.get("/readyz")).status_code == 200
    nowhere = stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    app = create_app(nowhere)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            answer = await http.get("/readyz")
            assert answer.status_code == 503, answer.text
            assert "Temporal is unreachable" in answer.json()["detail"]
            # A route needing Temporal: 503 with Retry-After, not 500.
            answer = await http.get("/v1/automations")
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "2"


# --- the worker waits for Temporal -----------------------------------------------------------


@contextmanager
def worker_process(address: str, task_queue: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "GOALFLOW_TASK_QUEUE": task_queue,
        "GOALFLOW_LOG_FORMAT": "json",
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(GOALFLOW), "worker"], env=environment, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def log_lines(log: Path, event: str) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") == event:
            lines.append(line)
    return lines


@pytest.mark.timeout(180)
async def test_a_worker_started_before_temporal_waits_and_then_connects(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    address = f"127.0.0.1:{port}"
    task_queue = f"patient-{uuid.uuid4()}"
    log = tmp_path / "worker.log"
    with worker_process(address, task_queue, log) as process:

        async def retries() -> list[dict[str, Any]]:
            return log_lines(log, "Temporal unreachable, retrying")

        waited = await assert_eventually(retries, lambda r: len(r) >= 3, within=30, interval=0.2)
        assert process.poll() is None, log.read_text()
        assert [r["attempt"] for r in waited[:3]] == [1, 2, 3]
        assert waited[0]["retry_in_s"] < waited[2]["retry_in_s"]  # backing off
        env = await WorkflowEnvironment.start_local(
            port=port,
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_cli(),
            # A namespace set up for goalflow: the worker checks it before polling.
            search_attributes=list(SEARCH_ATTRIBUTES),
        )
        async with env:

            async def connected() -> list[dict[str, Any]]:
                return log_lines(log, "worker polling")

            await assert_eventually(connected, bool, within=60, interval=0.2)
            [joined] = log_lines(log, "connected to Temporal")
            assert joined["attempt"] > 3
            # The worker does the work: publishing an automation runs its workflow there.
            automation, _ = parse_automation(
                {"name": "w", "steps": [{"id": "t", "type": "add_tag", "tag": "x"}]}, set()
            )
            published = await asyncio.wait_for(
                GoalflowService(env.client, task_queue).publish("patient", automation), 30
            )
            assert published.version == 1
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 30) == 0, log.read_text()


@pytest.mark.timeout(60)
async def test_a_waiting_worker_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with worker_process(f"127.0.0.1:{free_port()}", "nowhere", log) as process:

        async def retries() -> list[dict[str, Any]]:
            return log_lines(log, "Temporal unreachable, retrying")

        await assert_eventually(retries, bool, within=30, interval=0.2)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0, log.read_text()
