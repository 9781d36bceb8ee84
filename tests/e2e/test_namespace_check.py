"""The worker checks its namespace at start, and /readyz says the same: against a dev server that
lacks one of the search attributes the workflows write (GoalflowReached), the worker stops with
the command that creates it (or creates it, when told to) and /readyz answers 503 naming it.
A namespace whose listing is refused (Temporal Cloud) is a warning, not a refusal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesResponse
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from goalflow.cli.binaries import temporal_cli
from goalflow.core.namespace import (
    NamespaceNotReady,
    NamespaceProbe,
    inspect_namespace,
    prepare_namespace,
)
from goalflow.core.settings import Settings
from tests.support.helpers import assert_eventually
from tests.support.stack import open_stack
from workflows.search_attributes import REACHED, SEARCH_ATTRIBUTES

LACKING = REACHED
CREATE_IT = (
    "temporal operator search-attribute create --namespace default "
    "--name GoalflowReached --type KeywordList"
)


async def start_server_without_reached() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=[key for key in SEARCH_ATTRIBUTES if key.name != LACKING.name],
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
    )


@pytest.fixture(scope="module")
async def lacking_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server whose namespace lacks GoalflowReached; no test here adds it."""
    env = await start_server_without_reached()
    async with env:
        yield env


def target(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_the_worker_stops_naming_the_missing_attribute(
    lacking_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`goalflow worker`, as production runs it: exit 1 with the message, never polling."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "GOALFLOW_REGISTER_SEARCH_ATTRIBUTES"},
        "TEMPORAL_ADDRESS": target(lacking_env),
        "GOALFLOW_TASK_QUEUE": f"ns-check-{uuid.uuid4()}",
        "GOALFLOW_DATA_DIR": str(tmp_path),
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "goalflow.cli",
        "worker",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(worker.communicate(), 60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    message = err.decode()
    assert worker.returncode == 1, message
    assert "GoalflowReached (KeywordList)" in message
    assert CREATE_IT in message
    assert "GOALFLOW_REGISTER_SEARCH_ATTRIBUTES=true" in message
    # Only the missing one is named.
    for key in SEARCH_ATTRIBUTES:
        if key.name != LACKING.name:
            assert key.name not in message
    assert "worker polling" not in message


async def test_readyz_is_503_naming_the_missing_attribute(
    lacking_env: WorkflowEnvironment,
) -> None:
    app = create_app(Settings(), lacking_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://goalflow") as http:
            answer = await http.get("/readyz")
            assert (await http.get("/healthz")).status_code == 200
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "unavailable"
    assert "GoalflowReached (KeywordList)" in body["detail"]
    assert CREATE_IT in body["detail"]


async def test_with_register_the_worker_creates_it_and_enrollments_run(tmp_path: Path) -> None:
    """GOALFLOW_REGISTER_SEARCH_ATTRIBUTES=true (the default of `goalflow dev`)."""
    env = await start_server_without_reached()
    async with env:
        before = await inspect_namespace(env.client)
        assert [key.name for key in before.missing] == [LACKING.name]
        with pytest.raises(NamespaceNotReady):
            await prepare_namespace(env.client, register=False)

        report = await prepare_namespace(env.client, register=True)
        assert report.ready
        assert (await inspect_namespace(env.client)).ready
        # The enrollments that wrote GoalflowReached now run: one completes end to end.
        async with open_stack(env, tmp_path) as stack:
            assert (await stack.http.get("/readyz")).status_code == 200
            automation = {"name": "ns", "steps": [{"id": "t", "type": "add_tag", "tag": "x"}]}
            put = await stack.http.put("/v1/automations/ns-check", json=automation)
            assert put.status_code in (200, 201), put.text
            enrolled = await stack.http.post(
                "/v1/automations/ns-check/enrollments", json={"contact": {"id": "ada"}}
            )
            assert enrolled.status_code == 201, enrolled.text
            url = f"/v1/enrollments/{enrolled.json()['enrollment_id']}"
            await assert_eventually(
                lambda: stack.http.get(url),
                lambda answer: answer.json().get("status") == "completed",
                within=30,
            )


# --- without a server: a refused listing, the mistyped case, the probe's cache -----------------


class FakeOperator:
    def __init__(self, answer: ListSearchAttributesResponse | RPCError) -> None:
        self.answer = answer
        self.calls = 0

    async def list_search_attributes(self, request: Any) -> ListSearchAttributesResponse:
        self.calls += 1
        if isinstance(self.answer, RPCError):
            raise self.answer
        return self.answer


def fake_client(operator: FakeOperator) -> Client:
    return cast(Client, SimpleNamespace(namespace="goalflow", operator_service=operator))


def listing(**types: Any) -> ListSearchAttributesResponse:
    return ListSearchAttributesResponse(custom_attributes=types)


ALL = {key.name: key.indexed_value_type.value for key in SEARCH_ATTRIBUTES}


async def test_a_refused_listing_is_a_warning_and_the_worker_goes_on() -> None:
    refused = RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")
    with structlog.testing.capture_logs() as logs:
        report = await prepare_namespace(fake_client(FakeOperator(refused)), register=False)
    assert report.ready and report.unchecked
    warnings = [line for line in logs if line["log_level"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["namespace"] == "goalflow"


async def test_other_errors_are_not_swallowed() -> None:
    broken = RPCError("boom", RPCStatusCode.INTERNAL, b"")
    with pytest.raises(RPCError):
        await prepare_namespace(fake_client(FakeOperator(broken)), register=True)


async def test_an_attribute_of_another_type_is_named() -> None:
    types = {**ALL, "GoalflowVersion": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
    with pytest.raises(NamespaceNotReady) as raised:
        await prepare_namespace(fake_client(FakeOperator(listing(**types))), register=True)
    assert "GoalflowVersion of namespace 'goalflow' has type Keyword" in str(raised.value)
    assert "goalflow needs Int" in str(raised.value)


async def test_the_probe_lists_at_most_once_per_ttl() -> None:
    now = [100.0]
    operator = FakeOperator(listing(**ALL))
    probe = NamespaceProbe(fake_client(operator), ttl=5.0, clock=lambda: now[0])
    reports = await asyncio.gather(*(probe.report() for _ in range(20)))
    assert all(report.ready for report in reports)
    now[0] += 4.9
    await probe.report()
    assert operator.calls == 1
    now[0] += 0.2
    operator.answer = listing(**{k: v for k, v in ALL.items() if k != "GoalflowStep"})
    assert [key.name for key in (await probe.report()).missing] == ["GoalflowStep"]
    assert operator.calls == 2
