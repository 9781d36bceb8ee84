"""Traces (goalflow/core/tracing.py): one request's API span, its Temporal client span, and the
workflow and activity spans it leads to share one trace id; nothing is traced when
OTEL_EXPORTER_OTLP_ENDPOINT is unset. Spans are caught by the SDK's in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.dev import serving
from goalflow.core import tracing
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import publish
from tests.support.stack import Stack, free_port


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


async def test_one_request_is_one_trace_across_api_temporal_workflows_and_activities(
    dev_env: WorkflowEnvironment, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
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
            stack = Stack(f"http://127.0.0.1:{port}", http, settings, dev_env, tmp_path / "outbox")
            automation = await publish(
                stack,
                {
                    "name": "welcome",
                    "steps": [
                        {"id": "hello", "type": "send_email", "subject": "Hello", "html": "x"}
                    ],
                },
            )
            contact = new_id()
            exporter.clear()
            # The request that starts the contact's workflow: the workflows' own spans are in
            # its trace (a later request's update is a span linked to the workflow's trace).
            answer = await http.post(
                f"/v1/automations/{automation}/enrollments",
                json={"contact": {"id": contact, "email": f"{contact}@ex.com"}},
            )
            assert answer.status_code == 201, answer.text
            request = "POST /v1/automations/{automation_id}/enrollments"

            def traced() -> dict[str, set[str]]:
                by_trace: dict[str, set[str]] = {}
                for span in exporter.get_finished_spans():
                    key = format(span.context.trace_id, "032x")
                    by_trace.setdefault(key, set()).add(span.name)
                return by_trace

            async def probe() -> dict[str, set[str]]:
                return traced()

            def one_trace_has_it_all(by_trace: dict[str, set[str]]) -> bool:
                return any(
                    request in names
                    and any(n.startswith("RunActivity:send_email") for n in names)
                    and any(n.startswith("RunWorkflow:EnrollmentWorkflowV2") for n in names)
                    and "StartUpdateWithStartWorkflow:ContactWorkflowV2" in names
                    and "HandleUpdate:enroll" in names
                    for names in by_trace.values()
                )

            await assert_eventually(probe, one_trace_has_it_all)
    finally:
        sink.stop()
