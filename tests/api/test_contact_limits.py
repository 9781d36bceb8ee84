"""A contact cannot be grown past its bounds by any sequence of accepted requests, on a real
stack: its profile stays at most 256 KiB of JSON and 500 tags, each way in is refused with a 422
that says how large the profile would become (or, for what no caller waits on, is left out and
said so), and the contact keeps answering."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.api_helpers import TIMER_THEN_GOAL, contact, enroll, publish, send, until
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows import limits
from workflows.limits import MAX_PROFILE_BYTES, MAX_TAGS, MAX_TIMELINE_BYTES


def _fields(prefix: str, count: int = 200, chars: int = 1000) -> dict[str, str]:
    return {f"{prefix}{i}": "x" * chars for i in range(count)}


def _profile_bytes(found: dict[str, Any]) -> int:
    return len(json.dumps(found["fields"]).encode()) + len(json.dumps(found["tags"]).encode())


def _says_size(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    message = " ".join(error["msg"] for error in detail)
    assert str(MAX_PROFILE_BYTES) in message, message
    return message


async def _healthy(stack: Stack, contact_id: str) -> None:
    """The contact answers, takes an enrollment and an event that meets its goal."""
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]
    await send(http, contact_id, "custom", data={"name": "buy"})
    await until(http, enrollment_id, status="completed", outcome="goal_met")


async def test_the_issue_sequence_of_profile_saves_is_refused_at_the_cap(stack: Stack) -> None:
    """Eleven saves of 200 new fields of 1,000 characters each: the first fits, every later
    one is a 422 saying how large the profile would be; the contact stays healthy."""
    http = stack.http
    contact_id = new_id("ctx")
    statuses = []
    refusals = []
    for save in range(11):
        answer = await http.put(f"/v1/contacts/{contact_id}", json={"fields": _fields(f"f{save}-")})
        statuses.append(answer.status_code)
        if answer.status_code == 422:
            refusals.append(_says_size(answer))
    assert statuses[0] == 201
    assert statuses[1:] == [422] * 10, statuses
    assert "would be" in refusals[0], refusals[0]
    found = await contact(http, contact_id)
    assert len(found["fields"]) == 200
    assert _profile_bytes(found) <= MAX_PROFILE_BYTES
    # A save that replaces fields rather than adding them still fits, and is taken.
    smaller = {f"f0-{i}": "y" for i in range(100)}
    answer = await http.put(f"/v1/contacts/{contact_id}", json={"fields": smaller})
    assert answer.status_code == 200, answer.text
    await _healthy(stack, contact_id)


async def test_enrollments_cannot_grow_the_profile_past_the_cap(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id("ctx")
    first, second = await publish(http, TIMER_THEN_GOAL), await publish(http, TIMER_THEN_GOAL)
    answer = await enroll(http, first, contact_id, contact={"fields": _fields("a")})
    assert answer.status_code == 201, answer.text
    answer = await enroll(http, second, contact_id, contact={"fields": _fields("b")})
    _says_size(answer)
    # Enrolling again where the contact already is merges nothing: answered as before.
    answer = await enroll(http, first, contact_id, contact={"fields": _fields("b")})
    assert answer.status_code == 200 and answer.json()["created"] is False, answer.text
    found = await contact(http, contact_id)
    assert _profile_bytes(found) <= MAX_PROFILE_BYTES
    assert [a["automation_id"] for a in found["active_enrollments"]] == [first]


async def test_tags_stop_at_their_count(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id("ctx")
    tags = [f"t{i}" for i in range(MAX_TAGS)]
    answer = await http.post(f"/v1/contacts/{contact_id}/tags", json={"add": tags})
    assert answer.status_code == 202, answer.text
    answer = await http.post(f"/v1/contacts/{contact_id}/tags", json={"add": ["one-more"]})
    assert answer.status_code == 422, answer.text
    assert f"at most {MAX_TAGS}" in answer.text
    # As events from outside: accepted, but the tag is not kept (the enrollment's goal, met by
    # a later event, shows the tag event was done: events are done in order).
    automation_id = await publish(http, TIMER_THEN_GOAL)
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    await send(http, contact_id, "contact.tag_added", data={"tag": "from-outside"})
    await send(http, contact_id, "custom", data={"name": "buy"})
    await until(http, answer.json()["enrollment_id"], status="completed")
    found = await contact(http, contact_id)
    assert len(found["tags"]) == MAX_TAGS and "from-outside" not in found["tags"]
    # Swapping one tag for another keeps the count and is taken.
    swapped = [*tags[1:], "swapped"]
    answer = await http.put(f"/v1/contacts/{contact_id}", json={"tags": swapped})
    assert answer.status_code in (200, 201), answer.text
    assert (await contact(http, contact_id))["tags"] == swapped


async def test_contact_updated_events_cannot_grow_the_profile_past_the_cap(stack: Stack) -> None:
    """Events are facts: each is accepted and reaches the enrollments, but fields that would
    push the profile past the cap are not merged into it."""
    http = stack.http
    contact_id = new_id("ctx")
    automation_id = await publish(http, TIMER_THEN_GOAL)
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]
    for batch in range(4):
        await send(http, contact_id, "contact.updated", data={"fields": _fields(f"e{batch}-")})
    await send(http, contact_id, "custom", data={"name": "buy"})
    await until(http, enrollment_id, status="completed", outcome="goal_met")
    found = await contact(http, contact_id)
    assert len(found["fields"]) == 200 and "e0-0" in found["fields"]
    assert _profile_bytes(found) <= MAX_PROFILE_BYTES
    await _healthy(stack, contact_id)


async def test_an_update_contact_step_past_the_cap_fails_and_the_contact_stays_healthy(
    stack: Stack,
) -> None:
    http = stack.http
    contact_id = new_id("ctx")
    answer = await http.put(f"/v1/contacts/{contact_id}", json={"fields": _fields("mine")})
    assert answer.status_code == 201, answer.text
    growing = {
        "name": "grows the contact",
        "steps": [
            {"id": "grow", "type": "update_contact", "fields": _fields("step", 100)},
            {"id": "after", "type": "add_tag", "tag": "went-on"},
        ],
    }
    automation_id = await publish(http, growing)
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    found = await until(http, answer.json()["enrollment_id"], status="completed")
    grow = [
        e for e in found["timeline"] if e["kind"] == "step_completed" and e["step_id"] == "grow"
    ]
    assert grow[0]["detail"]["result"] == "failed", grow
    assert grow[0]["detail"]["error_type"] == "ProfileTooLarge"
    assert str(MAX_PROFILE_BYTES) in grow[0]["detail"]["error"]
    saved = await assert_eventually(
        lambda: contact(http, contact_id), lambda c: "went-on" in c["tags"]
    )
    assert "step0" not in saved["fields"] and _profile_bytes(saved) <= MAX_PROFILE_BYTES
    await _healthy(stack, contact_id)


async def test_a_bulk_row_past_the_cap_is_rejected_and_the_job_completes(stack: Stack) -> None:
    http = stack.http
    full, fresh = new_id("ctx"), new_id("ctx")
    answer = await http.put(f"/v1/contacts/{full}", json={"fields": _fields("mine")})
    assert answer.status_code == 201, answer.text
    automation_id = await publish(http, TIMER_THEN_GOAL)
    rows = [{"id": full, "fields": _fields("bulk")}, {"id": fresh}]
    answer = await http.post(
        f"/v1/automations/{automation_id}/enrollments/bulk", json={"contacts": rows}
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]

    async def job() -> dict[str, Any]:
        found: dict[str, Any] = (await http.get(f"/v1/jobs/{job_id}")).json()
        return found

    done = await assert_eventually(job, lambda j: j["status"] != "running", within=60)
    assert done["status"] == "completed" and done["created"] == 1, done
    assert [r["index"] for r in done["rejected"]] == [0], done
    assert "256 KiB" in done["rejected"][0]["reason"]
    await _healthy(stack, full)


async def test_a_large_event_reaches_many_enrollments_without_wedging_the_contact(
    stack: Stack,
) -> None:
    """One event of nearly 1 MiB to a contact in five automations: forwarded whole to each, in
    workflow tasks that each stay under Temporal's 4 MB message limit."""
    http = stack.http
    contact_id = new_id("ctx")
    enrollments = []
    for _ in range(5):
        answer = await enroll(http, await publish(http, TIMER_THEN_GOAL), contact_id)
        assert answer.status_code == 201, answer.text
        enrollments.append(answer.json()["enrollment_id"])
    await send(http, contact_id, "custom", data={"name": "big", "blob": "x" * 990_000})
    await send(http, contact_id, "custom", data={"name": "buy"})
    for enrollment_id in enrollments:
        await until(http, enrollment_id, status="completed", outcome="goal_met")
    await _healthy(stack, contact_id)


async def test_the_timeline_stays_in_its_byte_budget(stack: Stack) -> None:
    """Events with the longest ids the API takes, each recorded as a goal met: the timeline
    drops its oldest entries (after `entered`) to stay within MAX_TIMELINE_BYTES."""
    http = stack.http
    contact_id = new_id("ctx")
    watching = {
        "name": "records every view",
        "steps": [
            {
                "id": "viewed",
                "type": "goal",
                "any_of": [{"event": "custom", "name": "view"}],
                "if_unmet": {"action": "continue"},
            },
            {"id": "pause", "type": "wait", "duration": "P1D"},
        ],
    }
    answer = await enroll(http, await publish(http, watching), contact_id)
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]
    wide = "\U0001d4c1" * 194
    events = [
        {
            "id": f"{n:06d}{wide}",
            "contact_id": contact_id,
            "type": "custom",
            "data": {"name": "view"},
        }
        for n in range(400)
    ]
    answer = await http.post("/v1/events/batch", json={"events": events})
    assert answer.status_code == 202 and answer.json()["accepted"] == 400, answer.text
    found = await assert_eventually(
        lambda: stack.http.get(f"/v1/enrollments/{enrollment_id}"),
        lambda a: a.json()["timeline"][-1]["detail"].get("event_id", "").startswith("000399"),
        within=60,
    )
    timeline = found.json()["timeline"]
    assert timeline[0]["kind"] == "entered"
    size = len(json.dumps(timeline, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= MAX_TIMELINE_BYTES + len(timeline) + 1, size
    assert len(timeline) < 400  # the oldest goal_met entries were dropped


async def test_a_contact_is_in_a_bounded_number_of_automations_at_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_ACTIVE_ENROLLMENTS", 3)  # the worker shares the module
    http = stack.http
    contact_id = new_id("ctx")
    for _ in range(3):
        answer = await enroll(http, await publish(http, TIMER_THEN_GOAL), contact_id)
        assert answer.status_code == 201, answer.text
    answer = await enroll(http, await publish(http, TIMER_THEN_GOAL), contact_id)
    assert answer.status_code == 409, answer.text
    assert "at most 3" in answer.json()["detail"]
    await send(http, contact_id, "custom", data={"name": "buy"})  # ends all three
    monkeypatch.undo()
    await _healthy(stack, contact_id)


async def test_an_automation_keeps_a_bounded_size_of_versions(stack: Stack) -> None:
    """Every version is kept by the automation's workflow and handed to its next run: large
    versions stop at 1 MiB together, with a 422, and the automation stays usable."""
    http = stack.http
    automation_id = new_id("a")

    def version(n: int, chars: int) -> dict[str, Any]:
        return {
            "name": f"large {n}",
            "steps": [{"id": "set", "type": "update_contact", "fields": {"k": "x" * chars}}],
        }

    statuses = []
    for n in range(3):
        answer = await http.put(f"/v1/automations/{automation_id}", json=version(n, 400_000))
        statuses.append(answer.status_code)
    assert statuses == [201, 201, 422], statuses
    assert str(limits.MAX_VERSIONS_BYTES) in answer.json()["detail"][0]["msg"]
    answer = await http.put(f"/v1/automations/{automation_id}", json=version(3, 10))
    assert answer.status_code == 201 and answer.json()["version"] == 3, answer.text
