"""Definitions and HTTP helpers shared by the tests/test_api_*.py files."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.helpers import assert_eventually, new_id

# --- definitions -----------------------------------------------------------------------------

# A day's wait, cut short by a `custom` "buy" event, which meets the goal that ends the run.
TIMER_THEN_GOAL: dict[str, Any] = {
    "name": "timer then goal",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "P1D"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "on_met": {"action": "end"},
        },
    ],
}


def held_at_goal(criterion: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A goal first, held until met (or two days), then a tag step that marks the way through."""
    return {
        "name": "held at goal",
        "settings": settings,
        "steps": [
            {
                "id": "goal",
                "type": "goal",
                "any_of": [criterion],
                "if_unmet": {"action": "wait", "timeout": "P2D"},
            },
            {"id": "mark", "type": "add_tag", "tag": "went-through"},
        ],
    }


ENDS_AT_ONCE: dict[str, Any] = {"name": "ends at once", "steps": [{"id": "stop", "type": "end"}]}

ENROLLMENT_FIELDS = {
    "enrollment_id",
    "automation_id",
    "version",
    "contact_id",
    "status",
    "current_step",
    "waiting",
    "goals",
    "timeline",
    "outcome",
    "context",
}

# --- helpers ---------------------------------------------------------------------------------


async def publish(http: httpx.AsyncClient, definition: dict[str, Any]) -> str:
    automation_id = new_id("a")
    answer = await http.put(f"/v1/automations/{automation_id}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation_id


async def enroll(
    http: httpx.AsyncClient, automation_id: str, contact_id: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/automations/{automation_id}/enrollments",
        json={"contact": {"id": contact_id, **extra.pop("contact", {})}, **extra},
    )


async def enrolled(http: httpx.AsyncClient, automation_id: str, contact_id: str) -> str:
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["enrollment_id"])


async def view(http: httpx.AsyncClient, enrollment_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/enrollments/{enrollment_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def until(http: httpx.AsyncClient, enrollment_id: str, **expected: Any) -> dict[str, Any]:
    """Poll the enrollment until each given field has the given value."""
    return await assert_eventually(
        lambda: view(http, enrollment_id),
        lambda v: all(v[k] == value for k, value in expected.items()),
    )


async def send(
    http: httpx.AsyncClient, contact_id: str, type: str, **fields: Any
) -> dict[str, Any]:
    answer = await http.post("/v1/events", json={"contact_id": contact_id, "type": type, **fields})
    assert answer.status_code == 202, answer.text
    receipt: dict[str, Any] = answer.json()
    return receipt


def kinds(found: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(entry["kind"], entry["step_id"]) for entry in found["timeline"]]


def locs(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [error["loc"] for error in answer.json()["detail"]]


def near(value: str, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    return abs(datetime.fromisoformat(value) - expected) < slack


async def contact(http: httpx.AsyncClient, contact_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/contacts/{contact_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found
