"""Compound goals (R21) over HTTP: a publish refused with the path to change, the enrollment's
`goals[].criteria`, explain's and the dashboard's goal card as events count, and the preview
running the same counting."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api_helpers import enrolled, locs, publish, send, until, view
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

CLICKED = {"event": "custom", "name": "clicked"}
BOOKED = {"event": "appointment.status_changed", "status": ["confirmed"]}


def held(**goal: Any) -> dict[str, Any]:
    return {
        "name": "compound",
        "steps": [
            {"id": "ready", "type": "goal", "name": "Clicked and booked", **goal,
             "if_unmet": {"action": "wait", "timeout": "P2D"}, "on_met": {"action": "end"}},
        ],
    }  # fmt: skip


async def test_an_all_of_goal_counts_each_criterion_in_the_view_and_the_dashboard(
    stack: Stack,
) -> None:
    http = stack.http
    automation = await publish(http, held(all_of=[CLICKED, {**BOOKED, "min_count": 2}]))
    contact = new_id()
    enrollment = await enrolled(http, automation, contact)
    await send(http, contact, "appointment.status_changed", data={"status": "confirmed"})
    await send(http, contact, "custom", data={"name": "clicked"})
    expected = [{"matched": True, "count": 1}, {"matched": False, "count": 1}]
    found = await assert_eventually(
        lambda: view(http, enrollment), lambda v: v["goals"][0]["criteria"] == expected
    )
    assert found["goals"][0]["met"] is False and found["status"] == "active"
    # Explain says how far the goal got, as the view does.
    why = await http.get(f"/v1/contacts/{contact}/explain", params={"automation_id": automation})
    assert why.status_code == 200, why.text
    [goal] = why.json()["goals"]
    assert (goal["step_id"], goal["met"], goal["criteria"]) == ("ready", False, expected)
    page = await http.get(f"/ui/enrollments/{enrollment}")
    assert page.status_code == 200
    assert "all of: 1/1 ✓ · 1/2</td>" in page.text
    # In Spanish, by a client of its own: `?lang=` is remembered in a cookie, which the shared
    # client would carry into other tests' pages.
    async with httpx.AsyncClient(base_url=stack.url) as browser_like:
        spanish = await browser_like.get(f"/ui/enrollments/{enrollment}?lang=es")
    assert "todos: 1/1 ✓ · 1/2</td>" in spanish.text

    last = await send(http, contact, "appointment.status_changed", data={"status": "confirmed"})
    final = await until(http, enrollment, status="completed")
    assert final["outcome"] == "goal_met" and final["goals"][0]["event_id"] == last["event_id"]
    assert final["goals"][0]["criteria"] == [
        {"matched": True, "count": 1},
        {"matched": True, "count": 2},
    ]


async def test_a_publish_with_two_kinds_or_a_stray_within_is_422_at_the_field(
    stack: Stack,
) -> None:
    http = stack.http
    two = await http.put(
        f"/v1/automations/{new_id('a')}", json=held(any_of=[CLICKED], all_of=[BOOKED])
    )
    assert two.status_code == 422
    assert locs(two) == [["body", "steps", 0, "all_of"]]
    assert "exactly one of any_of, all_of or sequence" in two.text
    stray = await http.put(
        f"/v1/automations/{new_id('a')}", json=held(all_of=[CLICKED], within="P1D")
    )
    assert stray.status_code == 422
    assert locs(stray) == [["body", "steps", 0, "within"]]


async def test_a_preview_counts_a_sequence_within_its_window(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, held(sequence=[CLICKED, BOOKED], within="PT6H"))
    clicked = {"type": "custom", "data": {"name": "clicked"}}
    booked = {"type": "appointment.status_changed", "data": {"status": "confirmed"}}
    answer = await http.post(
        f"/v1/automations/{automation}/preview",
        json={
            "contact": {"id": new_id()},
            "start": "2026-03-02T09:00:00Z",
            "events": [
                {"after": "PT1H", **clicked, "id": "click-1"},
                {"after": "PT8H", **booked, "id": "book-late"},  # 7 h after the click
                {"after": "PT9H", **clicked, "id": "click-2"},
                {"after": "PT10H", **booked, "id": "book-1"},
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["outcome"] == "goal_met"
    [goal] = found["goals"]
    assert (goal["event_id"], goal["met_at"]) == ("book-1", "2026-03-02T19:00:00Z")
    assert goal["criteria"] == [{"matched": True, "count": 1}, {"matched": True, "count": 1}]
