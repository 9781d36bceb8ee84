"""GOALFLOW_API_KEYS (docs/api.md): every /v1 route needs `Authorization: Bearer KEY`; the rest
is open, and so are provider webhooks (signed their own way). The routes are read from the app
itself, so a route added later is covered too."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute

from api.main import create_app
from api.routes import ui
from tests.support.helpers import new_id
from tests.support.stack import Stack

KEYS = "key-one, key-two"


@pytest.fixture
async def guarded(stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, list[tuple[str, str]]]]:
    """The app with API keys, on the stack's Temporal and task queue (its worker serves it),
    and every (method, path) it routes, path parameters filled in."""
    settings = stack.settings.model_copy(update={"api_keys": KEYS})
    app = create_app(settings, stack.env.client)
    routes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://goalflow") as http:
            yield http, routes


async def test_every_v1_route_needs_a_valid_bearer_key(
    guarded: tuple[httpx.AsyncClient, list[tuple[str, str]]],
) -> None:
    http, routes = guarded
    # Provider webhooks answer to the provider's signature instead (tests/test_hooks_*.py).
    v1 = [
        (method, path)
        for method, path in routes
        if path.startswith("/v1/") and not path.startswith("/v1/hooks/")
    ]
    assert ("POST", "/v1/hooks/x") in routes
    assert ("POST", "/v1/events") in v1 and ("GET", "/v1/enrollments/x") in v1
    refused: tuple[dict[str, str], ...] = (
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Bearer key-one,key-two"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic key-one"},
        {"Authorization": "key-one"},
    )
    for method, path in v1:
        for headers in refused:
            # A body that is invalid too: the key is checked first, validation says nothing.
            answer = await http.request(method, path, headers=headers, content=b"{not json")
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "API key" in answer.json()["detail"]
        for key in ("key-one", "key-two"):
            answer = await http.request(method, path, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code not in (401, 403), (method, path, answer.text)
            assert answer.status_code < 500, (method, path, answer.text)


async def test_keys_work_end_to_end(
    guarded: tuple[httpx.AsyncClient, list[tuple[str, str]]],
) -> None:
    http, _ = guarded
    auth = {"Authorization": "Bearer key-two"}
    automation_id = new_id("a")
    definition = {"name": "auth", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}
    published = await http.put(f"/v1/automations/{automation_id}", json=definition, headers=auth)
    assert published.status_code == 201, published.text
    enrolled = await http.post(
        f"/v1/automations/{automation_id}/enrollments",
        json={"contact": {"id": new_id()}},
        headers=auth,
    )
    assert enrolled.status_code == 201, enrolled.text
    found = await http.get(f"/v1/enrollments/{enrolled.json()['enrollment_id']}", headers=auth)
    assert (found.status_code, found.json()["status"]) == (200, "active")


async def test_health_and_other_routes_outside_v1_are_open(
    guarded: tuple[httpx.AsyncClient, list[tuple[str, str]]],
) -> None:
    http, routes = guarded
    for path in ("/healthz", "/readyz"):
        answer = await http.get(path)
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    # Tracking links (/t/..., a forged token here) and the rest outside /v1 never ask for a key.
    tracking = [("GET", f"/t/{kind}/forged") for kind in "cou"]
    for method, path in [*routes, *tracking]:
        if not path.startswith("/v1/"):
            answer = await http.request(method, path)
            assert answer.status_code != 401, (method, path)
            assert answer.status_code < 500, (method, path, answer.text)


async def test_no_answer_redirects_to_the_host_a_request_names(stack: Stack) -> None:
    # Starlette answers a path that differs from a route by a trailing slash with a 307 to an
    # absolute URL built from the Host header, before any key is checked: a forged Host made it
    # an open redirect. Every routed path, with and without its trailing slash, over loopback.
    app = create_app(stack.settings, stack.env.client)
    routed = [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops]
    # The dashboard's routes have no schema.
    pages = [route for route in ui.router.routes if isinstance(route, APIRoute)]
    routed += [(m, route.path) for route in pages for m in route.methods or ()]
    paths = {(method, re.sub(r"\{[^}]+\}", "x", path)) for method, path in routed}
    assert ("GET", "/v1/automations") in paths and ("GET", "/ui/login") in paths
    forged = {"host": "evil.example"}
    for method, path in sorted(paths):
        other = path[:-1] if path.endswith("/") and len(path) > 1 else f"{path}/"
        answer = await stack.http.request(method, other, headers=forged)
        assert not answer.is_redirect or "evil.example" not in answer.headers["location"], (
            method,
            other,
            answer.status_code,
            answer.headers.get("location"),
        )
        assert answer.status_code != 307, (method, other, answer.headers.get("location"))
