"""Helpers for the email, SMS and tracking tests: drive the stack over HTTP and read its outbox."""

from __future__ import annotations

import re
from typing import Any

from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

PIXEL_SRC = re.compile(r'<img src="([^"]+/t/o/[^"]+)"')


async def publish(stack: Stack, definition: dict[str, Any]) -> str:
    automation_id = new_id("a")
    answer = await stack.http.put(f"/v1/automations/{automation_id}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation_id


async def enroll(stack: Stack, automation_id: str, contact: dict[str, Any]) -> str:
    answer = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": contact}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["enrollment_id"])


async def enrollment(stack: Stack, enrollment_id: str) -> dict[str, Any]:
    answer = await stack.http.get(f"/v1/enrollments/{enrollment_id}")
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def until(stack: Stack, enrollment_id: str, check: Any, within: float = 20.0) -> Any:
    return await assert_eventually(lambda: enrollment(stack, enrollment_id), check, within=within)


async def outbox(stack: Stack, contact_id: str) -> list[dict[str, Any]]:
    answer = await stack.http.get("/v1/dev/outbox", params={"contact_id": contact_id})
    assert answer.status_code == 200, answer.text
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


async def messages_for(
    stack: Stack, contact_id: str, count: int, within: float = 20.0
) -> list[dict[str, Any]]:
    """Wait until the contact has `count` messages; return them, oldest first."""
    found: list[dict[str, Any]] = await assert_eventually(
        lambda: outbox(stack, contact_id), lambda m: len(m) >= count, within=within
    )
    return found


def pixel_url(html: str) -> str:
    found = PIXEL_SRC.search(html)
    assert found is not None, html
    return found.group(1)


def step_detail(view: dict[str, Any], step_id: str) -> dict[str, Any]:
    """The detail of the last step_completed entry of `step_id`."""
    entries = [
        e for e in view["timeline"] if e["kind"] == "step_completed" and e["step_id"] == step_id
    ]
    assert entries, view["timeline"]
    detail: dict[str, Any] = entries[-1]["detail"]
    return detail


def goal_events(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(goal step, event type) of every goal_met entry, in order."""
    return [
        (e["step_id"], e["detail"]["event_type"])
        for e in view["timeline"]
        if e["kind"] == "goal_met"
    ]


def has_completed(step_id: str) -> Any:
    def check(view: dict[str, Any]) -> bool:
        return any(
            e["kind"] == "step_completed" and e["step_id"] == step_id for e in view["timeline"]
        )

    return check
