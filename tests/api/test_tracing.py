"""Traces (goalflow/core/tracing.py, goalflow/core/trace_interceptor.py): one request's API span,
its Temporal client span, and the workflow and activity spans it leads to share one trace id,
also when the request reaches a running contact; nothing is traced when
OTEL_EXPORTER_OTLP_ENDPOINT is unset. Spans are caught by the SDK's in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from goalflow.cli.dev import serving
from goalflow.core import tracing
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.stack import Stack, free_port
from worker import WORKFLOWS
from workflows.messages import contact_workflow_id


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    caught = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    tracing.use_provider(provider)
    yield caught
    tracing.use_provider(None)


@asynccontextmanager
async def traced_stack(env: WorkflowEnvironment, data_dir: Path) -> AsyncIterator[Stack]:
    """A stack whose client (and so worker) carries the process's interceptors, as
    goalflow.core.temporal connects with tracing on."""
    sink = SmtpSink(data_dir / "outbox", "127.0.0.1", free_port())
    sink.start()
    port = free_port()
    settings = Settings.model_validate(
        {
            "GOALFLOW_TASK_QUEUE": f"traced-{uuid.uuid4()}",
            "GOALFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
            "GOALFLOW_DEV": True,
            "GOALFLOW_DATA_DIR": str(data_dir),
            # Never called: the in-memory exporter stands in for OTLP.
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        }
    )
    config = env.client.config()
    config["interceptors"] = tracing.client_interceptors(settings)
    client = Client(**config)
    try:
        async with (
            serving(client, settings, host="127.0.0.1", port=port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            yield Stack(f"http://127.0.0.1:{port}", http, settings, env, data_dir / "outbox")
    finally:
        sink.stop()


def traces(exporter: InMemorySpanExporter) -> dict[int, list[ReadableSpan]]:
    """The finished spans by trace id."""
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, []).append(span)
    return by_trace


def trace_of(exporter: InMemorySpanExporter, root: str) -> list[ReadableSpan]:
    """The spans of the one trace whose spans include `root` (empty if none yet)."""
    found = [spans for spans in traces(exporter).values() if any(s.name == root for s in spans)]
    assert len(found) <= 1, [[s.name for s in spans] for spans in found]
    return found[0] if found else []


def ancestry(spans: list[ReadableSpan], span: ReadableSpan) -> list[str]:
    """The names from `span` up its parents, as far as they are in `spans`."""
    by_id = {s.context.span_id: s for s in spans}
    names = [span.name]
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        current = by_id.get(current.parent.span_id)
        if current is not None:
            names.append(current.name)
    return names


def test_nothing_is_traced_when_the_endpoint_is_unset(exporter: InMemorySpanExporter) -> None:
    settings = Settings.model_validate({})
    assert tracing.tracer_provider(settings) is None
    assert tracing.client_interceptors(settings) == []


async def test_one_request_is_one_trace_across_api_temporal_workflows_and_activities(
    dev_env: WorkflowEnvironment, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with traced_stack(dev_env, tmp_path) as stack:
        automation = await publish(
            stack,
            {
                "name": "welcome",
                "steps": [{"id": "hello", "type": "send_email", "subject": "Hello", "html": "x"}],
            },
        )
        contact = new_id()
        exporter.clear()
        # The request that starts the contact's workflow: the workflows' own spans are in its
        # trace.
        await enroll(stack, automation, {"id": contact, "email": f"{contact}@ex.com"})
        request = "POST /v1/automations/{automation_id}/enrollments"

        async def probe() -> set[str]:
            return {span.name for span in trace_of(exporter, request)}

        def has_it_all(names: set[str]) -> bool:
            return (
                any(n.startswith("RunActivity:send_email") for n in names)
                and any(n.startswith("RunWorkflow:EnrollmentWorkflowV2") for n in names)
                and "StartUpdateWithStartWorkflow:ContactWorkflowV2" in names
                and "HandleUpdate:enroll" in names
            )

        await assert_eventually(probe, has_it_all)


async def test_an_event_that_meets_a_goal_is_one_trace_down_to_the_email(
    dev_env: WorkflowEnvironment, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    """A request to a running contact: its update, the contact forwarding the event to the
    enrollment, the enrollment's move and the email it sends are one trace, not pieces of the
    trace of the request that enrolled the contact. What the enrollment does in a later workflow
    task (the email after a timer) is not the event's."""
    async with traced_stack(dev_env, tmp_path) as stack:
        automation = await publish(
            stack,
            {
                "name": "paid then thanks",
                "steps": [
                    {
                        "id": "paid",
                        "type": "goal",
                        "any_of": [{"event": "custom", "name": "paid"}],
                        "if_unmet": {"action": "wait", "timeout": "P30D"},
                    },
                    {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "x"},
                    {"id": "later", "type": "wait", "duration": "PT1S"},
                    {"id": "bye", "type": "send_email", "subject": "Bye", "html": "x"},
                ],
            },
        )
        contact = new_id()
        enrollment = await enroll(stack, automation, {"id": contact, "email": f"{contact}@ex.com"})
        await until(stack, enrollment, lambda v: (v["waiting"] or {}).get("goal") == "paid")
        exporter.clear()

        answer = await stack.http.post(
            "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "paid"}}
        )
        assert answer.status_code == 202, answer.text
        sent = await messages_for(stack, contact, 2)
        assert [m["subject"] for m in sent] == ["Thanks", "Bye"]

        request = "POST /v1/events"

        async def probe() -> list[ReadableSpan]:
            return trace_of(exporter, request)

        def down_to_the_email(spans: list[ReadableSpan]) -> bool:
            return any(s.name == "RunActivity:send_email" for s in spans)

        async def emails() -> list[ReadableSpan]:
            return [s for s in exporter.get_finished_spans() if s.name == "RunActivity:send_email"]

        await assert_eventually(emails, lambda found: len(found) == 2)
        spans = await assert_eventually(probe, down_to_the_email)
        names = {s.name for s in spans}
        # The API, the update (sent and handled), the workflow tasks' spans on both workflows,
        # and the email activity.
        assert {
            request,
            "StartUpdateWithStartWorkflow:ContactWorkflowV2",
            "HandleUpdate:accept_event",
            "SignalExternalWorkflow:event",
            "HandleSignal:event",
            "StartActivity:send_email",
            "RunActivity:send_email",
        } <= names, sorted(names)
        # Not the contact's or the enrollment's own story: those started with another request;
        # "bye", after the timer, is the enrollment's own again.
        assert not any(n.startswith("RunWorkflow:") for n in names), sorted(names)
        assert [s.name for s in spans].count("RunActivity:send_email") == 1
        # One tree: the email activity's parents lead up to the request.
        email = next(s for s in spans if s.name == "RunActivity:send_email")
        assert ancestry(spans, email) == [
            "RunActivity:send_email",
            "StartActivity:send_email",
            "SignalExternalWorkflow:event",
            "StartUpdateWithStartWorkflow:ContactWorkflowV2",
            request,
        ]
        settings = stack.settings

    # Deterministic with tracing on: both histories (whose commands carry trace headers)
    # replay on the traced worker's interceptors, and replaying makes no span (the stack is
    # down: nothing else makes any).
    before = len(exporter.get_finished_spans())
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        interceptors=tracing.client_interceptors(settings),
    )
    for workflow_id in (contact_workflow_id(contact), enrollment):
        history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
        await replayer.replay_workflow(history)
    assert len(exporter.get_finished_spans()) == before
