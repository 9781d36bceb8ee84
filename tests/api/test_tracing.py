"""Traces (goalflow/core/tracing.py): one request's API span, its Temporal client span, and the
workflow and activity spans it leads to share one trace id; nothing is traced when
OTEL_EXPORTER_OTLP_ENDPOINT is unset. Spans are caught by the SDK's in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from goalflow.cli.dev import serving
from goalflow.core import tracing
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import publish
from tests.support.stack import Stack, free_port
from worker import WORKFLOWS


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    caught = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    tracing.use_provider(provider)
    yield caught
    tracing.use_provider(None)


def test_nothing_is_traced_when_the_endpoint_is_unset(exporter: InMemorySpanExporter) -> None:
    settings = Settings.model_validate({})
    assert tracing.tracer_provider(settings) is None
    assert tracing.client_interceptors(settings) == []


@pytest.fixture
async def traced(
    dev_env: WorkflowEnvironment, tmp_path: Path, exporter: InMemorySpanExporter
) -> AsyncIterator[Stack]:
    """A stack whose client (and worker) carry the process's tracing interceptors."""
    sink = SmtpSink(tmp_path / "outbox", "127.0.0.1", free_port())
    sink.start()
    port = free_port()
    settings = Settings.model_validate(
        {
            "GOALFLOW_TASK_QUEUE": f"traced-{uuid.uuid4()}",
            "GOALFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
            "GOALFLOW_DEV": True,
            "GOALFLOW_DATA_DIR": str(tmp_path),
            # Never called: the in-memory exporter stands in for OTLP.
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        }
    )
    # As goalflow.temporal connects: the process's interceptors on the client (and the worker).
    config = dev_env.client.config()
    config["interceptors"] = tracing.client_interceptors(settings)
    client = Client(**config)
    try:
        async with (
            serving(client, settings, host="127.0.0.1", port=port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            yield Stack(f"http://127.0.0.1:{port}", http, settings, dev_env, tmp_path / "outbox")
    finally:
        sink.stop()


def traces(exporter: InMemorySpanExporter) -> dict[str, set[str]]:
    """The names of the spans finished so far, by trace id."""
    by_trace: dict[str, set[str]] = {}
    for span in exporter.get_finished_spans():
        by_trace.setdefault(format(span.context.trace_id, "032x"), set()).add(span.name)
    return by_trace


async def one_trace_with(exporter: InMemorySpanExporter, *wanted: str) -> set[str]:
    """The spans of the one trace that has every `wanted` name (a trailing `*`: a prefix)."""

    def has(names: set[str], name: str) -> bool:
        if name.endswith("*"):
            return any(n.startswith(name[:-1]) for n in names)
        return name in names

    async def probe() -> list[set[str]]:
        return [n for n in traces(exporter).values() if all(has(n, w) for w in wanted)]

    [found] = await assert_eventually(probe, lambda found: len(found) == 1)
    return found


async def test_one_request_is_one_trace_across_api_temporal_workflows_and_activities(
    traced: Stack, exporter: InMemorySpanExporter
) -> None:
    http = traced.http
    automation = await publish(
        traced,
        {
            "name": "welcome",
            "steps": [{"id": "hello", "type": "send_email", "subject": "Hello", "html": "x"}],
        },
    )
    contact = new_id()
    exporter.clear()
    # The request that starts the contact's workflow: the workflows' own spans are in its trace.
    answer = await http.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": contact, "email": f"{contact}@ex.com"}},
    )
    assert answer.status_code == 201, answer.text
    await one_trace_with(
        exporter,
        "POST /v1/automations/{automation_id}/enrollments",
        "StartUpdateWithStartWorkflow:ContactWorkflowV2",
        "HandleUpdate:enroll",
        "RunWorkflow:EnrollmentWorkflowV2",
        "RunActivity:send_email*",
    )


async def test_an_event_to_a_running_contact_is_one_trace_to_the_email_it_causes(
    traced: Stack, exporter: InMemorySpanExporter
) -> None:
    """POST /v1/events meets the goal of an enrollment that is waiting; the move sends an email:
    the request, the contact's update, the enrollment's workflow task (the signal carrying the
    event) and the email activity are one trace, not the trace that started the contact."""
    http = traced.http
    automation = await publish(
        traced,
        {
            "name": "bought",
            "steps": [
                {"id": "bought", "type": "goal", "any_of": [{"event": "custom", "name": "buy"}],
                 "if_unmet": {"action": "wait"}},
                {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "x"},
            ],
        },
    )  # fmt: skip
    contact = new_id()
    answer = await http.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": contact, "email": f"{contact}@ex.com"}},
    )
    assert answer.status_code == 201, answer.text
    enrollment = answer.json()["enrollment_id"]
    await assert_eventually(
        lambda: http.get(f"/v1/enrollments/{enrollment}"),
        lambda r: r.json()["waiting"] is not None,
    )
    started = await one_trace_with(exporter, "HandleUpdate:enroll")
    exporter.clear()

    event = await http.post("/v1/events", json={"contact_id": contact, "type": "custom",
                                                 "data": {"name": "buy"}})  # fmt: skip
    assert event.status_code == 202, event.text
    names = await one_trace_with(
        exporter,
        "POST /v1/events",
        "StartUpdateWithStartWorkflow:ContactWorkflowV2",
        "HandleUpdate:accept_event",
        "HandleSignal:*",
        "StartActivity:send_email*",
        "RunActivity:send_email*",
    )
    assert "HandleUpdate:enroll" in started and "HandleUpdate:enroll" not in names


HISTORIES = Path(__file__).resolve().parents[1] / "histories"


@pytest.mark.parametrize("name", ["contact_event_batch_v2", "enrollment_early_goal_v2"])
async def test_histories_replay_with_the_tracing_interceptor(
    name: str, exporter: InMemorySpanExporter
) -> None:
    """Tracing changes headers only: the recorded histories replay with it on, and a replay
    makes no span."""
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    settings = Settings.model_validate({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        interceptors=tracing.client_interceptors(settings),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
    assert exporter.get_finished_spans() == ()
