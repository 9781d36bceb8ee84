"""Send windows (R16 in docs/automations.md) over HTTP, on a real stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.helpers import new_id
from tests.support.messaging import enroll, messages_for, outbox, publish, step_detail, until
from tests.support.stack import Stack

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
BUY = {"event": "custom", "name": "buy"}


def closed_now() -> tuple[dict[str, Any], datetime]:
    """A window (UTC) that opens 2 to 3 hours from now, and that opening."""
    opens = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    window = {
        "days": EVERY_DAY,
        "start": opens.strftime("%H:%M"),
        "end": (opens + timedelta(hours=1)).strftime("%H:%M"),
    }
    return window, opens


def email(step_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "send_email", "subject": step_id, "html": "<p>hi</p>", **extra}


def definition(*steps: dict[str, Any], window: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": "send window",
        "settings": {"timezone": "UTC", "send_window": window},
        "steps": list(steps),
    }


async def test_a_send_outside_the_window_is_held_and_shown(stack: Stack) -> None:
    window, opens = closed_now()
    automation_id = await publish(stack, definition(email("hello"), window=window))
    contact = new_id()
    enrollment_id = await enroll(stack, automation_id, {"id": contact, "email": "a@example.com"})
    view = await until(stack, enrollment_id, lambda v: v["waiting"] is not None)
    assert view["waiting"]["kind"] == "send_window"
    assert datetime.fromisoformat(view["waiting"]["until"]) == opens
    assert view["current_step"] == "hello"
    assert await outbox(stack, contact) == []
    cancelled = await stack.http.delete(f"/v1/enrollments/{enrollment_id}")
    assert cancelled.json()["status"] == "cancelled"


async def test_a_goal_met_during_the_hold_moves_on_without_sending(stack: Stack) -> None:
    window, _ = closed_now()
    automation_id = await publish(
        stack,
        definition(
            email("pitch"),
            {"id": "g", "type": "goal", "any_of": [BUY]},
            email("thanks", send_window=None),
            window=window,
        ),
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation_id, {"id": contact, "email": "b@example.com"})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "send_window")
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "buy"}}
    )
    assert answer.status_code == 202, answer.text
    final = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    assert step_detail(final, "pitch") == {"skipped": "moved", "cut_short": True}
    # The step after the goal opted out of the window: sent at once; the pitch never was.
    sent = await messages_for(stack, contact, 1)
    assert [m["step_id"] for m in sent] == ["thanks"]


async def test_send_window_null_is_kept_apart_from_absent(stack: Stack) -> None:
    window, _ = closed_now()
    automation_id = new_id("a")
    url = f"/v1/automations/{automation_id}"
    first = await stack.http.put(url, json=definition(email("hello"), window=window))
    assert first.status_code == 201
    opted_out = definition(email("hello", send_window=None), window=window)
    second = await stack.http.put(url, json=opted_out)
    assert (second.status_code, second.json()["version"]) == (201, 2)
    again = await stack.http.put(url, json=opted_out)
    assert (again.status_code, again.json()["version"]) == (200, 2)
    shown = (await stack.http.get(url)).json()
    assert shown["steps"][0]["send_window"] is None
    assert shown["settings"]["send_window"] == window
    assert (
        "send_window" not in (await stack.http.get(url, params={"version": 1})).json()["steps"][0]
    )


@pytest.mark.parametrize(
    ("settings_window", "step_window", "loc"),
    [
        (
            {"days": ["mon"], "start": "25:00", "end": "18:00"},
            None,
            ["body", "settings", "send_window", "start"],
        ),
        (
            {"days": ["mon", "someday"], "start": "09:00", "end": "18:00"},
            None,
            ["body", "settings", "send_window", "days", 1],
        ),
        (
            {"days": ["mon"], "start": "09:00", "end": "09:00"},
            None,
            ["body", "settings", "send_window"],
        ),
        (
            None,
            {"days": ["mon"], "start": "09:00", "end": "9pm"},
            ["body", "steps", 0, "send_window", "end"],
        ),
    ],
)
async def test_bad_send_windows_are_422_with_paths(
    stack: Stack, settings_window: Any, step_window: Any, loc: list[Any]
) -> None:
    step = email("hello") if step_window is None else email("hello", send_window=step_window)
    answer = await stack.http.put(
        f"/v1/automations/{new_id('a')}", json=definition(step, window=settings_window)
    )
    assert answer.status_code == 422, answer.text
    assert loc in [error["loc"] for error in answer.json()["detail"]]


async def test_the_profile_timezone_sets_the_contacts_clock(stack: Stack) -> None:
    """A window open now in Tokyo and closed now in UTC (the automation's zone): a contact whose
    profile says Asia/Tokyo gets the email at once; one without a zone is held."""
    local = datetime.now(ZoneInfo("Asia/Tokyo"))
    window = {
        "days": EVERY_DAY,
        "start": local.strftime("%H:00"),
        "end": (local + timedelta(hours=2)).strftime("%H:00"),
    }
    automation_id = await publish(stack, definition(email("hello"), window=window))
    in_tokyo, elsewhere = new_id(), new_id()
    saved = await stack.http.put(
        f"/v1/contacts/{in_tokyo}", json={"email": "t@example.com", "timezone": "Asia/Tokyo"}
    )
    assert saved.status_code in (200, 201), saved.text
    await enroll(stack, automation_id, {"id": in_tokyo, "email": "t@example.com"})
    held = await enroll(stack, automation_id, {"id": elsewhere, "email": "e@example.com"})
    assert [m["step_id"] for m in await messages_for(stack, in_tokyo, 1)] == ["hello"]
    view = await until(stack, held, lambda v: v["waiting"] is not None)
    assert view["waiting"]["kind"] == "send_window"
    assert await outbox(stack, elsewhere) == []
    await stack.http.delete(f"/v1/enrollments/{held}")
