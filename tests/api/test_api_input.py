"""Bad input in general: malformed JSON, lone surrogates, oversized bodies, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.stack import Stack

# --- bad input in general --------------------------------------------------------------------

BODY_ROUTES = [
    ("PUT", "/v1/automations/a-json"),
    ("POST", "/v1/automations/a-json/enrollments"),
    ("POST", "/v1/events"),
    ("POST", "/v1/events/batch"),
    ("POST", "/v1/contacts/c-json/tags"),
    ("PUT", "/v1/trigger-links/l-json"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_malformed_json_is_422_with_detail(stack: Stack, method: str, path: str) -> None:
    for content in (b'{"name": ', b"{'single': 'quotes'}", b"\xff\xfe garbage"):
        answer = await stack.http.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 422, (content, answer.text)
        [error] = answer.json()["detail"]
        assert error["type"] == "json_invalid"
        assert error["loc"][0] == "body"


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_lone_surrogates_are_422_not_500(stack: Stack, method: str, path: str) -> None:
    """Python's json accepts "\\ud800"; nothing downstream can encode it."""
    bodies = {
        "PUT /v1/automations/a-json": '{"name": "\\ud800", "steps": []}',
        "POST /v1/automations/a-json/enrollments": '{"contact": {"id": "c\\udfff"}}',
        "POST /v1/events": '{"contact_id": "c", "type": "custom", "data": {"k": ["\\ud800"]}}',
        "POST /v1/events/batch": '{"events": [{"contact_id": "\\ud800", "type": "custom"}]}',
        "POST /v1/contacts/c-json/tags": '{"add": ["\\ud83d"]}',
        "PUT /v1/trigger-links/l-json": '{"name": "\\udc00", "url": "https://e.x"}',
    }
    content = bodies[f"{method} {path}"].encode()
    answer = await stack.http.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["type"] == "string_unicode"
    assert error["loc"][0] == "body" and len(error["loc"]) > 1
    # A valid pair (an emoji, escaped) is fine.
    ok = await stack.http.post(
        "/v1/events",
        content=b'{"contact_id": "c-emoji", "type": "custom", "data": {"k": "\\ud83d\\ude00"}}',
        headers={"content-type": "application/json"},
    )
    assert ok.status_code == 202, ok.text


async def test_oversized_bodies_are_413(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    big = {"contact_id": "c", "type": "custom", "data": {"blob": "x" * (limit + 1)}}
    declared = await stack.http.post("/v1/events", json=big)
    assert declared.status_code == 413
    assert str(limit) in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    chunked = await stack.http.post(
        "/v1/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert str(limit) in chunked.json()["detail"]

    # Just under the limit is fine.
    fits = {"contact_id": "c-big", "type": "custom", "data": {"blob": "x" * (limit // 2)}}
    assert (await stack.http.post("/v1/events", json=fits)).status_code == 202


WEIRD_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/automations/%00", None),
    ("GET", "/v1/automations/a?version=99999999999999999999999", None),
    ("GET", "/v1/enrollments?page_size=-1", None),
    ("GET", "/v1/enrollments?status=", None),
    ("GET", "/v1/contacts/..%2F..%2Fetc", None),
    ("DELETE", "/v1/contacts/c", None),
    ("PATCH", "/v1/automations/a", {}),
    ("POST", "/v1/events", {"contact_id": "c", "type": "custom", "data": {"n": 1e308}}),
    ("POST", "/v1/events", {"contact_id": "c", "type": "custom", "data": {"deep": [[[[[[[]]]]]]]}}),
    ("POST", "/v1/events", {"contact_id": "c" * 201, "type": "custom"}),
    ("POST", "/v1/events", {"contact_id": 5, "type": "custom"}),
    ("POST", "/v1/events", None),
    ("POST", "/v1/events/batch", {"events": None}),
    ("POST", "/v1/automations/a/enrollments", {"contact": {"id": "c"}, "version": 10**30}),
    ("POST", "/v1/automations/a/enrollments", {"contact": {"id": "c", "tags": [None]}}),
    ("POST", "/v1/contacts/c/tags", {"add": ["t"] * 501}),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": [{"id": "w", "type": "wait"}]}),
    (
        "PUT",
        "/v1/automations/a",
        {"name": "x", "steps": [{"id": "w", "type": "wait", "duration": "P9999Y"}]},
    ),
    (
        "PUT",
        "/v1/automations/a",
        {"name": "x", "steps": [{"id": "w", "type": "wait", "until_time": "25:99"}]},
    ),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": "nope"}),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": [None]}),
]


async def test_weird_input_is_never_5xx(stack: Stack) -> None:
    for method, path, body in WEIRD_REQUESTS:
        content = json.dumps(body).encode() if body is not None else b""
        answer = await stack.http.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code < 500, (method, path, body, answer.text[:300])
        if answer.status_code >= 400:
            assert answer.json()["detail"], (method, path)
