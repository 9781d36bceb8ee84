"""POST /v1/automations/{id}/preview over HTTP: every field of the answer, simulated times, the
definition it runs (a version, a body, the draft), no side effect, and bad input (422 at paths)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.service import RPCError

from goalflow.core.smtp_sink import read_messages
from tests.support.api_helpers import kinds, locs, publish
from tests.support.helpers import new_id
from tests.support.stack import Stack
from workflows.messages import contact_workflow_id

START = "2026-03-02T09:00:00Z"
BUY = {"event": "custom", "name": "buy"}


def definition(**settings: Any) -> dict[str, Any]:
    return {
        "name": "Preview me",
        "settings": settings,
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi {{ contact.first_name }}",
             "html": "<p>hi</p>"},
            {"id": "w", "type": "wait", "duration": "P3D"},
            {"id": "vip", "type": "if_else", "if": {"has_tag": "vip"}, "then": "text",
             "else": "g"},
            {"id": "text", "type": "send_sms", "body": "for VIPs"},
            {"id": "hook", "type": "webhook", "url": "https://example.com/hook"},
            {"id": "g", "type": "goal", "any_of": [BUY], "if_unmet": {"action": "end"}},
        ],
    }  # fmt: skip


def at(offset: timedelta) -> str:
    """The simulated instant `offset` after START, as the answer writes it."""
    return (datetime.fromisoformat(START) + offset).isoformat().replace("+00:00", "Z")


async def test_a_preview_answers_the_enrollment_view_with_simulated_times(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, definition())
    contact = new_id()
    workflows_before = (
        await stack.env.client.count_workflows(f"GoalflowContactId = '{contact}'")
    ).count
    answer = await http.post(
        f"/v1/automations/{automation}/preview",
        json={
            "contact": {"id": contact, "email": "ana@example.com", "first_name": "Ana",
                        "phone": "+34600000001"},
            "context": {"plan": "pro"},
            "start": START,
            "events": [
                {"after": "P1D", "type": "contact.tag_added", "data": {"tag": "vip"}},
                {"after": "P4D", "type": "custom", "data": {"name": "buy"}, "id": "order-1"},
            ],
        },
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["status"], found["outcome"]) == ("exited", "goal_unmet")
    assert found["automation_id"] == automation and found["version"] == 1
    assert found["contact_id"] == contact and found["context"] == {"plan": "pro"}
    assert found["current_step"] == "g" and found["waiting"] is None
    # The purchase comes a day after the enrollment ended: too late for the goal.
    assert found["goals"] == [
        {
            "step_id": "g",
            "met": False,
            "met_at": None,
            "event_id": None,
            "criteria": [{"matched": False, "count": 0}],
        }
    ]
    assert kinds(found) == [
        ("entered", None),
        ("step_started", "hello"),
        ("step_completed", "hello"),
        ("step_started", "w"),
        ("waiting", "w"),
        ("step_completed", "w"),
        ("step_started", "vip"),
        ("step_completed", "vip"),
        ("step_started", "text"),
        ("step_completed", "text"),
        ("step_started", "hook"),
        ("step_completed", "hook"),
        ("goal_unmet", "g"),
        ("ended", None),
    ]
    # P3D of waiting, then the rest at once.
    assert found["timeline"][-1]["at"] == at(timedelta(days=3))
    assert found["ends_at"] == at(timedelta(days=3))
    assert found["sends"] == [
        {"at": START, "step_id": "hello", "channel": "email", "to": "ana@example.com",
         "subject": "Hi Ana"},
        {"at": at(timedelta(days=3)), "step_id": "text", "channel": "sms", "to": "+34600000001"},
        {"at": at(timedelta(days=3)), "step_id": "hook", "channel": "webhook",
         "to": "https://example.com/hook"},
    ]  # fmt: skip
    # No side effect: nothing sent, no contact, no enrollment.
    assert not [m for m in read_messages(stack.outbox_dir) if contact in str(m)]
    with pytest.raises(RPCError):
        await stack.env.client.get_workflow_handle(contact_workflow_id(contact)).describe()
    after = (await stack.env.client.count_workflows(f"GoalflowContactId = '{contact}'")).count
    assert after == workflows_before == 0


async def test_a_preview_stops_at_its_horizon_and_a_goal_moves_early(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, definition())
    url = f"/v1/automations/{automation}/preview"
    base = {"contact": {"id": new_id()}, "start": START}
    held = (await http.post(url, json={**base, "horizon": "P2D"})).json()
    assert held["status"] == "active" and "ends_at" not in held
    assert held["current_step"] == "w"
    assert held["waiting"] == {"kind": "timer", "until": at(timedelta(days=3)), "goal": None}
    assert held["sends"] == []  # no email address: the email is skipped
    early = (
        await http.post(
            url, json={**base, "events": [{"after": "PT2H", "type": "custom", "data": BUY}]}
        )
    ).json()
    assert ("moved", "g") in kinds(early)
    assert early["ends_at"] == at(timedelta(hours=2))


async def test_a_preview_runs_a_body_or_the_draft_or_a_version(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, definition())
    url = f"/v1/automations/{automation}/preview"
    contact = {"id": new_id()}
    shorter = {"name": "short", "steps": [{"id": "only", "type": "add_tag", "tag": "x"}]}
    body = (await http.post(url, json={"contact": contact, "definition": shorter})).json()
    assert kinds(body)[1:3] == [("step_started", "only"), ("step_completed", "only")]
    assert body["version"] == 2  # what it would be published as
    assert (await http.put(f"/v1/automations/{automation}/draft", json=shorter)).status_code == 200
    draft = (await http.post(url, json={"contact": contact, "use_draft": True})).json()
    assert kinds(draft) == kinds(body)
    first = await http.post(url, json={"contact": contact, "version": 1, "horizon": "P1D"})
    assert first.json()["current_step"] == "w"
    # A body never published, of an automation with no version: previewed all the same.
    fresh = await http.post(
        f"/v1/automations/{new_id('a')}/preview", json={"contact": contact, "definition": shorter}
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == 1
    unknown = await http.post(f"/v1/automations/{new_id('a')}/preview", json={"contact": contact})
    assert unknown.status_code == 404


async def test_bad_previews_are_422_with_paths(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, definition())
    url = f"/v1/automations/{automation}/preview"
    contact = {"id": new_id()}

    async def refused(body: dict[str, Any]) -> list[list[Any]]:
        return locs(await http.post(url, json={"contact": contact, **body}))

    event = {"type": "custom", "data": BUY}
    assert await refused({"events": [{**event, "after": "soon"}]}) == [
        ["body", "events", 0, "after"]
    ]
    assert await refused({"events": [{**event, "after": "-P1D"}]}) == [
        ["body", "events", 0, "after"]
    ]
    assert await refused({"horizon": "P400D"}) == [["body", "horizon"]]
    assert await refused({"horizon": "P2Y"}) == [["body", "horizon"]]
    assert (await http.post(url, json={"contact": contact, "horizon": "P1Y"})).status_code == 200
    assert await refused({"version": 7}) == [["body", "version"]]
    assert await refused({"definition": {"name": "x", "steps": [{"id": "w", "type": "wait"}]}}) == [
        ["body", "definition", "steps", 0]
    ]
    assert await refused({"use_draft": True}) == [["body", "use_draft"]]
    assert await refused({"version": 1, "use_draft": True}) == [["body", "use_draft"]]
    assert await refused({"start": "yesterday"}) == [["body", "start"]]
    assert locs(await http.post(url, json={"events": []})) == [["body", "contact"]]
