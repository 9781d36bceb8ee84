"""R14 triggers: every source of events enrolls through them, in acceptance order, with R13's
re-entry rules; the triggering event is not seen by the enrollment it starts; paused automations
never fire; chains of automated causes are cut."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack, own_stack
from workflows.messages import automation_workflow_id

# Triggers on every contact created, on fields and tags other tests set: a catalog of its own.
stack = own_stack("triggers")


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


def ends_at_once(trigger: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "name": "ends at once",
        "settings": settings,
        "triggers": [trigger],
        "steps": [{"id": "stop", "type": "end"}],
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


async def test_batch_events_trigger_in_acceptance_order(stack: Stack) -> None:
    """The event after the triggering one, in the same batch, reaches the new enrollment."""
    http = stack.http
    automation_id = await publish(http, triggered({"event": "custom", "name": "start"}))
    contact_id = new_id()
    answer = await http.post(
        "/v1/events/batch",
        json={
            "events": [
                {"id": "e1", "contact_id": contact_id, "type": "custom", "data": {"name": "start"}},
                {"id": "e2", "contact_id": contact_id, "type": "custom", "data": {"name": "buy"}},
            ]
        },
    )
    assert answer.status_code == 202, answer.text
    done = await assert_eventually(
        lambda: enrollment(http, f"enr:{automation_id}:{contact_id}:1"),
        lambda v: v is not None and v["status"] == "completed",
    )
    assert done is not None
    assert done["context"]["trigger_id"] == "trigger-1"
    assert done["context"]["trigger_event_id"] == "e1"
    assert done["goals"][0]["event_id"] == "e2"


async def test_tracking_click_triggers(stack: Stack) -> None:
    http = stack.http
    link_id = new_id("link")
    answer = await http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Book", "url": "https://example.com/book"}
    )
    assert answer.status_code in (200, 201), answer.text
    automation_id = await publish(
        http, triggered({"id": "clicked", "event": "trigger_link.clicked", "link_id": link_id})
    )
    contact_id = new_id()
    tracker = Tracker(stack.settings.secret, stack.settings.public_url)
    url = tracker.url(
        TrackingKind.CLICK, TrackedTarget.model_validate({"c": contact_id, "l": link_id})
    )
    answer = await http.get(url.removeprefix(stack.url))
    assert answer.status_code == 302, answer.text
    view = await eventually_enrolled(http, automation_id, contact_id)
    assert view["context"]["trigger_id"] == "clicked"
    assert view["context"]["link_id"] == link_id


async def test_tag_added_by_an_automation_triggers_another(stack: Stack) -> None:
    http = stack.http
    tagger = await publish(
        http, {"name": "tagger", "steps": [{"id": "hot", "type": "add_tag", "tag": "hot-lead"}]}
    )
    follower = await publish(
        http, triggered({"id": "hot", "event": "contact.tag_added", "tag": "hot-lead"})
    )
    contact_id = new_id()
    answer = await http.post(
        f"/v1/automations/{tagger}/enrollments", json={"contact": {"id": contact_id}}
    )
    assert answer.status_code == 201, answer.text
    view = await eventually_enrolled(http, follower, contact_id)
    assert view["timeline"][0]["detail"]["trigger_id"] == "hot"
    assert view["context"]["tag"] == "hot-lead"
    assert view["context"]["trigger_event_id"] == f"enr:{tagger}:{contact_id}:1:hot:1:add:hot-lead"
    # An API tag change triggers too.
    other = new_id()
    answer = await http.post(f"/v1/contacts/{other}/tags", json={"add": ["hot-lead"]})
    assert answer.status_code == 202, answer.text
    await eventually_enrolled(http, follower, other)


async def test_field_update_by_an_automation_triggers_another(stack: Stack) -> None:
    http = stack.http
    updater = await publish(
        http,
        {
            "name": "updater",
            "steps": [{"id": "plan", "type": "update_contact", "fields": {"plan": "pro"}}],
        },
    )
    follower = await publish(http, triggered({"event": "contact.updated", "field": "plan"}))
    bystander = await publish(http, triggered({"event": "contact.updated", "field": "other"}))
    contact_id = new_id()
    answer = await http.post(
        f"/v1/automations/{updater}/enrollments", json={"contact": {"id": contact_id}}
    )
    assert answer.status_code == 201, answer.text
    view = await eventually_enrolled(http, follower, contact_id)
    assert view["context"]["changed"] == ["plan"]
    assert view["context"]["fields"] == {"plan": "pro"}
    contact = (await http.get(f"/v1/contacts/{contact_id}")).json()
    assert contact["fields"] == {"plan": "pro"}
    assert await enrollment(http, f"enr:{bystander}:{contact_id}:1") is None


async def test_contact_created_and_updated_by_put(stack: Stack) -> None:
    http = stack.http
    welcome = await publish(http, triggered({"id": "new", "event": "contact.created"}))
    moved = await publish(
        http, triggered({"id": "tz", "event": "contact.updated", "field": "timezone"})
    )
    contact_id = new_id()
    profile = {"email": "new@example.com", "first_name": "Nia", "tags": ["lead"]}
    answer = await http.put(f"/v1/contacts/{contact_id}", json=profile)
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] is True
    view = await eventually_enrolled(http, welcome, contact_id)
    assert view["context"]["trigger_id"] == "new"
    assert view["context"]["email"] == "new@example.com"
    shown = (await http.get(f"/v1/contacts/{contact_id}")).json()
    assert (shown["email"], shown["first_name"], shown["tags"]) == (
        "new@example.com",
        "Nia",
        ["lead"],
    )

    # Nothing changed: 200, no event (nothing triggered).
    answer = await http.put(f"/v1/contacts/{contact_id}", json=profile)
    assert (answer.status_code, answer.json()["changed"]) == (200, [])
    answer = await http.put(
        f"/v1/contacts/{contact_id}",
        json={"timezone": "Europe/Madrid", "tags": ["customer"], "last_name": "Ode"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["last_name", "timezone", "tags"]
    view = await eventually_enrolled(http, moved, contact_id)
    assert view["context"]["changed"] == ["last_name", "timezone", "tags"]
    shown = (await http.get(f"/v1/contacts/{contact_id}")).json()
    assert shown["tags"] == ["customer"]
    assert shown["fields"] == {"timezone": "Europe/Madrid"}
    stats = await assert_eventually(
        lambda: trigger_stats(http, welcome), lambda s: s["new"]["started"] == 1
    )
    assert stats["new"]["refused"] == {
        "active": 0,
        "reentry": 0,
        "paused": 0,
        "chain_cut": 0,
        "limit": 0,
    }


async def test_reentry_rules_apply_to_triggers(stack: Stack) -> None:
    http = stack.http
    once = await publish(http, ends_at_once({"id": "go", "event": "custom", "name": "go"}))
    again = await publish(
        http, ends_at_once({"id": "go", "event": "custom", "name": "go"}, allow_reentry=True)
    )
    contact_id = new_id()
    await send(http, contact_id, "custom", name="go")
    for automation_id in (once, again):
        first = f"enr:{automation_id}:{contact_id}:1"
        await assert_eventually(
            functools.partial(enrollment, http, first),
            lambda v: v is not None and v["status"] == "completed",
        )
    # The contact workflow has taken note of both ends (an enrollment reports its end after
    # its view says so).
    await assert_eventually(
        lambda: http.get(f"/v1/contacts/{contact_id}"),
        lambda r: r.json()["active_enrollments"] == [],
    )
    await send(http, contact_id, "custom", name="go")
    second = await eventually_enrolled(http, again, contact_id, 2)
    assert second["timeline"][0]["detail"]["trigger_id"] == "go"
    refused = await assert_eventually(
        lambda: trigger_stats(http, once), lambda s: s["go"]["refused"]["reentry"] == 1
    )
    assert refused["go"]["started"] == 1
    assert await enrollment(http, f"enr:{once}:{contact_id}:2") is None


async def test_paused_automation_triggers_nobody_until_resumed(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(
        http, ends_at_once({"id": "go", "event": "custom", "name": "go"}), activate="false"
    )
    contact_id = new_id()
    await send(http, contact_id, "custom", name="go")
    stats = await assert_eventually(
        lambda: trigger_stats(http, automation_id), lambda s: s["go"]["refused"]["paused"] == 1
    )
    assert stats["go"]["started"] == 0
    assert await enrollment(http, f"enr:{automation_id}:{contact_id}:1") is None

    assert (await http.post(f"/v1/automations/{automation_id}/resume")).status_code == 200
    await send(http, contact_id, "custom", name="go")
    await eventually_enrolled(http, automation_id, contact_id)

    assert (await http.post(f"/v1/automations/{automation_id}/pause")).status_code == 200
    await send(http, new_id(), "custom", name="go")
    await assert_eventually(
        lambda: trigger_stats(http, automation_id), lambda s: s["go"]["refused"]["paused"] == 2
    )


async def test_a_trigger_chain_is_cut_past_ten_automated_causes(stack: Stack) -> None:
    """Two automations that tag each other's trigger tag: the chain stops and is counted."""
    http = stack.http

    def bouncer(hears: str, says: str) -> dict[str, Any]:
        return {
            "name": f"{hears} -> {says}",
            "settings": {"allow_reentry": True},
            "triggers": [{"id": "heard", "event": "contact.tag_added", "tag": hears}],
            "steps": [
                {"id": "reset", "type": "remove_tag", "tag": hears},
                {"id": "say", "type": "add_tag", "tag": says},
                {"id": "unsay", "type": "remove_tag", "tag": says},
            ],
        }

    ping = await publish(http, bouncer("ping", "pong"))
    pong = await publish(http, bouncer("pong", "ping"))
    contact_id = new_id()
    answer = await http.post(f"/v1/contacts/{contact_id}/tags", json={"add": ["ping"]})
    assert answer.status_code == 202, answer.text

    async def counts() -> tuple[int, int, int]:
        a, b = await trigger_stats(http, ping), await trigger_stats(http, pong)
        started = a["heard"]["started"] + b["heard"]["started"]
        cut = a["heard"]["refused"]["chain_cut"] + b["heard"]["refused"]["chain_cut"]
        return started, cut, a["heard"]["refused"]["active"] + b["heard"]["refused"]["active"]

    # The API's tag event is depth 0; each enrollment's tag is one deeper: depths 0..10
    # enroll (11 enrollments), the tag at depth 11 is cut.
    final = await assert_eventually(counts, lambda c: c[1] == 1, within=60)
    assert final == (11, 1, 0)
    await asyncio.sleep(2)
    assert await counts() == final


async def test_bad_triggers_are_422_with_their_paths(stack: Stack) -> None:
    http = stack.http
    bad = {
        "name": "bad triggers",
        "triggers": [
            {"event": "contact.deleted"},
            {"event": "contact.tag_added", "tag": ""},
            {"event": "appointment.status_changed", "status": ["maybe"]},
            {"event": "custom", "nope": 1},
            {"id": "Not An Id", "event": "custom"},
        ],
        "steps": [{"id": "stop", "type": "end"}],
    }
    answer = await http.put(f"/v1/automations/{new_id('a')}", json=bad)
    assert answer.status_code == 422, answer.text
    locs = {tuple(e["loc"][:4]) for e in answer.json()["detail"]}
    assert ("body", "triggers", 0, "event") in locs
    assert ("body", "triggers", 1, "tag") in locs
    assert ("body", "triggers", 2, "status") in locs
    assert ("body", "triggers", 3, "nope") in locs
    assert ("body", "triggers", 4, "id") in locs

    clash = {
        "name": "clash",
        "triggers": [
            {"event": "custom"},
            {"id": "trigger-1", "event": "custom"},
            {"event": "email.opened", "email_step": "nowhere"},
        ],
        "steps": [{"id": "stop", "type": "end"}],
    }
    answer = await http.put(f"/v1/automations/{new_id('a')}", json=clash)
    assert answer.status_code == 422, answer.text
    locs = {tuple(e["loc"]) for e in answer.json()["detail"]}
    assert locs == {("body", "triggers", 1, "id"), ("body", "triggers", 2, "email_step")}
    # contact.created is for triggers only, not goals.
    goal = {
        "name": "goal",
        "steps": [{"id": "g", "type": "goal", "any_of": [{"event": "contact.created"}]}],
    }
    answer = await http.put(f"/v1/automations/{new_id('a')}", json=goal)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][:5] == ["body", "steps", 0, "any_of", 0]


async def test_an_event_that_matches_no_trigger_costs_nothing_more(stack: Stack) -> None:
    """With triggers armed (on another event type), a non-matching event's contact history has
    no marker, no signal and no child: the same commands as before triggers existed. A matching
    one adds the enrollment's start and one signal counting it."""
    http = stack.http
    automation_id = await publish(
        http, ends_at_once({"id": "booked", "event": "appointment.status_changed"})
    )
    quiet, matched = new_id(), new_id()
    # (No wait: the publish refreshed this process's copies of the trigger set at once.)
    await send(http, quiet, "custom", name="page_view")
    await send(http, matched, "appointment.status_changed", status="new")
    await eventually_enrolled(http, automation_id, matched)

    async def commands(contact_id: str) -> list[str]:
        handle = stack.env.client.get_workflow_handle(f"contact:{contact_id}")
        history = await handle.fetch_history()
        return [
            EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
            for e in history.events
            if "WORKFLOW_TASK" not in EventType.Name(e.event_type)
        ]

    # Started, the update, and the idle timer a contact with nothing to remember sets.
    assert sorted(await commands(quiet)) == [
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    await assert_eventually(
        lambda: commands(matched), lambda c: "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in c
    )
    # Other tests' automations in the shared namespace may trigger on this event type too:
    # count what this automation's trigger costs.
    history = await stack.env.client.get_workflow_handle(f"contact:{matched}").fetch_history()
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    signalled = [
        e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    ]
    assert [c for c in children if c.startswith(f"enr:{automation_id}:")] == [
        f"enr:{automation_id}:{matched}:1"
    ]
    assert [w for w in signalled if w.endswith(f":{automation_id}")] == [
        automation_workflow_id(automation_id)
    ]
