"""OpenTelemetry traces (docs/operations.md, "Traces"): with OTEL_EXPORTER_OTLP_ENDPOINT set, the
API's requests (FastAPI's instrumentation), the Temporal calls they make, and the workflow and
activity runs those lead to (temporalio's TracingInterceptor, on the client and so on the worker
built on it) are spans of one trace per request, exported over OTLP/HTTP. A request that reaches
a running workflow by update or signal stays one trace through what that message makes the
workflows do in the same workflow task (goalflow/core/trace_interceptor.py). Unset: no provider,
no interceptor, no instrumentation: nothing is recorded or exported.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from goalflow.core.settings import Settings

TRACER_NAME = "goalflow"
# One provider per process, built on first use (or given by `use_provider`, for tests).
_provider: TracerProvider | None = None


def use_provider(provider: TracerProvider | None) -> None:
    """The provider this process exports through (tests: one with an in-memory exporter)."""
    global _provider
    _provider = provider


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """None unless OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    global _provider
    if not settings.otel_exporter_otlp_endpoint:
        return None
    if _provider is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider = TracerProvider(resource=Resource.create({"service.name": "goalflow"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _provider = provider
    return _provider


def client_interceptors(settings: Settings) -> list[Any]:
    """For every Temporal client of the process; a worker built on the client inherits it."""
    provider = tracer_provider(settings)
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from goalflow.core.trace_interceptor import CausalTracingInterceptor

    tracing = TracingInterceptor(provider.get_tracer(TRACER_NAME))
    # In this order: the SDK's makes the spans, ours (inside it) parents them by message.
    return [tracing, CausalTracingInterceptor(tracing)]


def instrument_app(app: FastAPI, settings: Settings) -> None:
    provider = tracer_provider(settings)
    if provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
