"""The enroll-then-event race over HTTP: no window right after enrollment."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.api_helpers import (
    TIMER_THEN_GOAL,
    enrolled,
    publish,
    send,
    view,
)
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# --- acceptance 2: the race over HTTP --------------------------------------------------------


async def test_race_100_contacts_enrolled_then_evented_back_to_back(stack: Stack) -> None:
    """Each contact's goal event is sent the moment its enrollment is answered, all contacts
    at once: the event must reach the enrollment (no race window right after enrollment)."""
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)

    async def enroll_then_send(n: int) -> tuple[str, str]:
        contact_id = new_id(f"race{n}")
        enrollment_id = await enrolled(http, automation_id, contact_id)
        await send(http, contact_id, "custom", id=f"buy-{n}", data={"name": "buy"})
        return enrollment_id, f"buy-{n}"

    pairs = await asyncio.gather(*(enroll_then_send(n) for n in range(100)))
    assert len({enrollment_id for enrollment_id, _ in pairs}) == 100

    async def views() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(view(http, e) for e, _ in pairs)))

    # 100 views per poll are queries the worker answers: polled once a second, with room for a
    # loaded machine, so that the watching does not slow down what it watches.
    final = await assert_eventually(
        views, lambda vs: all(v["status"] != "active" for v in vs), within=120, interval=1
    )
    for found, (_, event_id) in zip(final, pairs, strict=True):
        assert (found["status"], found["outcome"]) == ("completed", "goal_met"), found
        assert found["goals"][0]["met"] is True
        assert found["goals"][0]["event_id"] == event_id
