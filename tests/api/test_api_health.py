"""Health, readiness, docs and the OpenAPI schema, over real HTTP against a real stack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.main import create_app
from tests.support.stack import Stack, free_port

# --- health, docs, schema --------------------------------------------------------------------


async def test_health_and_readiness(stack: Stack) -> None:
    for path in ("/healthz", "/readyz"):
        answer = await stack.http.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ok"}


@pytest.fixture
async def unreachable() -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a client for a Temporal server that is not there."""
    client = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=pydantic_data_converter, lazy=True
    )
    app = create_app(None, client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://goalflow") as http:
            yield http


async def test_readyz_is_503_when_temporal_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    answer = await unreachable.get("/readyz")
    assert answer.status_code == 503
    assert "Temporal is unreachable" in answer.json()["detail"]
    assert (await unreachable.get("/healthz")).json() == {"status": "ok"}


async def test_v1_routes_are_503_not_500_when_temporal_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    answers = [
        await unreachable.get("/v1/automations/anything"),
        await unreachable.post("/v1/events", json={"contact_id": "c", "type": "custom"}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert "Temporal" in answer.json()["detail"]


async def test_schema_docs_and_openapi(stack: Stack) -> None:
    schema = await stack.http.get("/v1/schema/automation")
    assert schema.status_code == 200
    body = schema.json()
    assert body["title"] == "Automation"
    assert {"name", "steps", "settings"} <= set(body["properties"])
    assert body["required"] == ["name", "steps"] or set(body["required"]) == {"name", "steps"}
    text = json.dumps(body)
    for step_type in ("send_email", "wait", "goal", "if_else", "webhook", "end"):
        assert f'"{step_type}"' in text

    docs = await stack.http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()

    spec = (await stack.http.get("/openapi.json")).json()
    expected = {
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/v1/automations": {"get"},
        "/v1/automations/{automation_id}": {"put", "get"},
        "/v1/automations/{automation_id}/enrollments": {"post"},
        "/v1/enrollments": {"get"},
        "/v1/enrollments/{enrollment_id}": {"get", "delete"},
        "/v1/events": {"post"},
        "/v1/events/batch": {"post"},
        "/v1/contacts/{contact_id}": {"get"},
        "/v1/contacts/{contact_id}/tags": {"post"},
        "/v1/trigger-links": {"get"},
        "/v1/trigger-links/{link_id}": {"put"},
        "/v1/schema/automation": {"get"},
    }
    for path, methods in expected.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, spec["paths"][path].keys())
