"""A first pass over the HTTP API against the real stack."""

from __future__ import annotations

from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack


async def test_publish_enroll_event_moves_contact(stack: Stack) -> None:
    http = stack.http
    automation = new_id("a")
    definition = {
        "name": "smoke",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": [{"event": "custom", "name": "buy"}]},
        ],
    }
    published = await http.put(f"/v1/automations/{automation}", json=definition)
    assert published.status_code == 201, published.text
    contact = new_id()
    enrolled = await http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
    )
    assert enrolled.status_code == 201, enrolled.text
    enrollment_id = enrolled.json()["enrollment_id"]
    sent = await http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "buy"}}
    )
    assert sent.status_code == 202

    async def status() -> str:
        return str((await http.get(f"/v1/enrollments/{enrollment_id}")).json()["status"])

    assert await assert_eventually(status, lambda s: s == "completed") == "completed"
