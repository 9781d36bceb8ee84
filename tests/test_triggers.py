"""R14 triggers: every source of events enrolls through them, in acceptance order, with R13's
re-entry rules; the triggering event is not seen by the enrollment it starts; paused automations
never fire; chains of automated causes are cut."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Stack
from tests.helpers import assert_eventually, new_id


def triggered(trigger: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """Enrolled by `trigger`; then held at a goal on a custom "buy" event (or ten days)."""
    return {
        "name": "triggered",
        "settings": settings,
        "triggers": [trigger],
        "steps": [
            {
                "id": "bought",
                "type": "goal",
                "any_of": [{"event": "custom", "name": "buy"}],
                "if_unmet": {"action": "wait", "timeout": "P10D"},
                "on_met": {"action": "end"},
            }
        ],
    }


async def publish(http: httpx.AsyncClient, definition: dict[str, Any], **query: str) -> str:
    automation_id = new_id("a")
    answer = await http.put(f"/v1/automations/{automation_id}", json=definition, params=query)
    assert answer.status_code == 201, answer.text
    return automation_id


async def send(http: httpx.AsyncClient, contact_id: str, type: str, **data: Any) -> str:
    answer = await http.post(
        "/v1/events", json={"contact_id": contact_id, "type": type, "data": data}
    )
    assert answer.status_code == 202, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id


async def enrollment(http: httpx.AsyncClient, enrollment_id: str) -> dict[str, Any] | None:
    answer = await http.get(f"/v1/enrollments/{enrollment_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def eventually_enrolled(
    http: httpx.AsyncClient, automation_id: str, contact_id: str, number: int = 1
) -> dict[str, Any]:
    view = await assert_eventually(
        lambda: enrollment(http, f"enr:{automation_id}:{contact_id}:{number}"),
        lambda v: v is not None,
        within=20,
    )
    assert view is not None
    return view


async def trigger_stats(http: httpx.AsyncClient, automation_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/automations/{automation_id}/stats")
    assert answer.status_code == 200, answer.text
    triggers: dict[str, Any] = answer.json()["triggers"]
    return triggers


async def test_api_event_enrolls_and_the_enrollment_does_not_see_it(stack: Stack) -> None:
    http = stack.http
    # The trigger and the goal both match a "buy" event: the goal stays unmet by the event that
    # enrolled (R1), and is met by the next one.
    automation_id = await publish(
        http, triggered({"id": "bought-once", "event": "custom", "name": "buy"})
    )
    contact_id = new_id()
    event_id = await send(http, contact_id, "custom", name="buy", order_id="o-1")
    view = await eventually_enrolled(http, automation_id, contact_id)
    assert view["context"] == {
        "name": "buy",
        "order_id": "o-1",
        "trigger_event_id": event_id,
        "trigger_id": "bought-once",
    }
    entered = view["timeline"][0]
    assert entered["kind"] == "entered"
    assert entered["detail"]["trigger_id"] == "bought-once"
    assert entered["detail"]["trigger_event_id"] == event_id
    assert view["status"] == "active"
    assert view["waiting"] == {"kind": "goal", "goal": "bought", "until": view["waiting"]["until"]}
    assert view["goals"][0]["met"] is False

    second = await send(http, contact_id, "custom", name="buy")
    done = await assert_eventually(
        lambda: enrollment(http, f"enr:{automation_id}:{contact_id}:1"),
        lambda v: v is not None and v["status"] == "completed",
    )
    assert done is not None and done["goals"][0]["event_id"] == second
    # The second event matched the trigger too: the contact was in the automation already.
    stats = await assert_eventually(
        lambda: trigger_stats(http, automation_id),
        lambda s: s["bought-once"]["refused"]["active"] == 1,
    )
    assert stats["bought-once"]["started"] == 1
