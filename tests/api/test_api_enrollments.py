"""Enrollments over HTTP: enroll, goals met by events, R12 and R13, cancel, list and pages.

Visibility (the enrollment list) lags, so it is polled with `assert_eventually`; everything else
answers from the workflows themselves and is asserted at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api_helpers import (
    ENDS_AT_ONCE,
    ENROLLMENT_FIELDS,
    TIMER_THEN_GOAL,
    contact,
    enroll,
    enrolled,
    held_at_goal,
    kinds,
    locs,
    near,
    publish,
    send,
    until,
    view,
)
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# --- enrollments -----------------------------------------------------------------------------


async def test_enroll_get_and_goal_met_by_event(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    contact_id = new_id()
    answer = await enroll(http, automation_id, contact_id, contact={"email": "c@example.com"})
    assert answer.status_code == 201
    created = answer.json()
    enrollment_id = created["enrollment_id"]
    assert {k: created[k] for k in ("automation_id", "version", "contact_id", "status")} == {
        "automation_id": automation_id,
        "version": 1,
        "contact_id": contact_id,
        "status": "active",
    }

    waiting = await until(http, enrollment_id, current_step="pause")
    assert set(waiting) == ENROLLMENT_FIELDS
    assert (waiting["status"], waiting["outcome"], waiting["version"]) == ("active", None, 1)
    assert waiting["waiting"]["kind"] == "timer"
    assert near(waiting["waiting"]["until"], datetime.now(UTC) + timedelta(days=1))
    assert waiting["goals"] == [
        {
            "step_id": "bought",
            "met": False,
            "met_at": None,
            "event_id": None,
            # R21: each criterion, in the order of the definition.
            "criteria": [{"matched": False, "count": 0}],
        }
    ]
    assert kinds(waiting) == [("entered", None), ("step_started", "pause"), ("waiting", "pause")]
    assert all({"at", "kind", "step_id", "detail"} == set(e) for e in waiting["timeline"])

    receipt = await send(http, contact_id, "custom", id="evt-buy", data={"name": "buy"})
    assert receipt == {"event_id": "evt-buy", "contact_id": contact_id, "duplicate": False}

    done = await until(http, enrollment_id, status="completed")
    assert (done["outcome"], done["current_step"], done["waiting"]) == ("goal_met", "bought", None)
    [goal] = done["goals"]
    assert (goal["step_id"], goal["met"], goal["event_id"]) == ("bought", True, "evt-buy")
    assert near(goal["met_at"], datetime.now(UTC))
    assert kinds(done) == [
        ("entered", None),
        ("step_started", "pause"),
        ("waiting", "pause"),
        ("goal_met", "bought"),
        ("step_completed", "pause"),
        ("moved", "bought"),
        ("step_completed", "bought"),
        ("ended", None),
    ]
    assert done["timeline"][4]["detail"] == {"cut_short": True}


async def test_waiting_for_a_goal_and_exiting_unmet(stack: Stack) -> None:
    http = stack.http
    held = await publish(http, held_at_goal({"event": "custom", "name": "never"}))
    enrollment_id = await enrolled(http, held, new_id())
    found = await assert_eventually(
        lambda: view(http, enrollment_id), lambda v: v["waiting"] is not None
    )
    assert (found["status"], found["current_step"]) == ("active", "goal")
    assert found["waiting"]["kind"] == "goal"
    assert found["waiting"]["goal"] == "goal"
    assert near(found["waiting"]["until"], datetime.now(UTC) + timedelta(days=2))

    exits = await publish(
        http,
        {
            "name": "exits",
            "steps": [
                {
                    "id": "gate",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "if_unmet": {"action": "end"},
                }
            ],
        },
    )
    exited = await until(http, await enrolled(http, exits, new_id()), status="exited")
    assert exited["outcome"] == "goal_unmet"
    assert kinds(exited)[-2:] == [("goal_unmet", "gate"), ("ended", None)]

    times_out = await publish(
        http,
        {
            "name": "times out",
            "steps": [
                {
                    "id": "gate",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "if_unmet": {"action": "wait", "timeout": "PT1S", "on_timeout": "end"},
                }
            ],
        },
    )
    timed_out = await until(http, await enrolled(http, times_out, new_id()), status="exited")
    assert timed_out["outcome"] == "goal_unmet"
    assert kinds(timed_out) == [
        ("entered", None),
        ("waiting", "gate"),
        ("timed_out", "gate"),
        ("ended", None),
    ]
    assert timed_out["timeline"][2]["detail"] == {"on_timeout": "end"}


async def test_enroll_errors(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)

    unknown = await enroll(http, new_id("a"), new_id())
    assert unknown.status_code == 404
    assert "not found" in unknown.json()["detail"]
    assert (await enroll(http, "No Such Id", new_id())).status_code == 404
    assert (await enroll(http, automation_id, new_id(), version=2)).status_code == 404

    base = f"/v1/automations/{automation_id}/enrollments"
    assert locs(await http.post(base, json={"contact": {"email": "x@example.com"}})) == [
        ["body", "contact", "id"]
    ]
    assert locs(await http.post(base, json={})) == [["body", "contact"]]
    assert locs(await http.post(base, json={"contact": {"id": "c", "age": 3}})) == [
        ["body", "contact", "age"]
    ]
    assert locs(await http.post(base, json={"contact": {"id": "has space"}})) == [
        ["body", "contact", "id"]
    ]
    assert locs(await http.post(base, json={"contact": {"id": "c"}, "version": 0})) == [
        ["body", "version"]
    ]


async def test_r13_one_active_enrollment_and_reentry(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()

    # Without allow_reentry: the active one while active, 409 once it ended.
    once = await publish(http, held_at_goal({"event": "custom", "name": "x"}))
    first = await enroll(http, once, contact_id)
    assert first.status_code == 201
    repeat = await enroll(http, once, contact_id)
    assert repeat.status_code == 200
    assert repeat.json()["created"] is False
    assert repeat.json()["enrollment_id"] == first.json()["enrollment_id"]
    cancelled = await http.delete(f"/v1/enrollments/{first.json()['enrollment_id']}")
    assert cancelled.json() == {
        "enrollment_id": first.json()["enrollment_id"],
        "status": "cancelled",
    }
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    refused = await enroll(http, once, contact_id)
    assert refused.status_code == 409
    assert "re-entry" in refused.json()["detail"]

    # Concurrent requests for one contact: one enrollment, the others answer it.
    racer = new_id()
    answers = await asyncio.gather(*(enroll(http, once, racer) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert len({a.json()["enrollment_id"] for a in answers}) == 1

    # Completed on its own, same rule.
    ends = await publish(http, ENDS_AT_ONCE)
    ended_id = await enrolled(http, ends, contact_id)
    assert (await until(http, ended_id, status="completed"))["outcome"] == "ended"
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    assert (await enroll(http, ends, contact_id)).status_code == 409

    # With allow_reentry: a new enrollment after the first ended, never two at once.
    again = await publish(http, held_at_goal({"event": "custom", "name": "x"}, allow_reentry=True))
    one = await enrolled(http, again, contact_id)
    same = await enroll(http, again, contact_id)
    assert (same.status_code, same.json()["enrollment_id"]) == (200, one)
    await http.delete(f"/v1/enrollments/{one}")
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    two = await enroll(http, again, contact_id)
    assert two.status_code == 201
    assert two.json()["enrollment_id"] != one
    assert (await contact(http, contact_id))["active_enrollments"] == [
        {"enrollment_id": two.json()["enrollment_id"], "automation_id": again, "version": 1}
    ]


async def test_r12_running_enrollment_keeps_its_version(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("a")
    url = f"/v1/automations/{automation_id}"

    def version(mark: str) -> dict[str, Any]:
        definition = held_at_goal({"event": "custom", "name": "go"})
        definition["steps"][1] = {"id": f"mark-{mark}", "type": "add_tag", "tag": mark}
        return definition

    assert (await http.put(url, json=version("v1"))).json()["version"] == 1
    old_contact = new_id()
    old = await enrolled(http, automation_id, old_contact)
    await until(http, old, current_step="goal")

    assert (await http.put(url, json=version("v2"))).json()["version"] == 2
    new_contact = new_id()
    new = await enroll(http, automation_id, new_contact)
    assert new.json()["version"] == 2
    pinned = await enroll(http, automation_id, new_id(), version=1)
    assert pinned.json()["version"] == 1

    await send(http, old_contact, "custom", data={"name": "go"})
    done = await until(http, old, status="completed")
    assert done["version"] == 1
    assert ("step_completed", "mark-v1") in kinds(done)
    assert (await contact(http, old_contact))["tags"] == ["v1"]

    await send(http, new_contact, "custom", data={"name": "go"})
    done_new = await until(http, new.json()["enrollment_id"], status="completed")
    assert ("step_completed", "mark-v2") in kinds(done_new)


async def test_get_enrollment_unknown_ids_are_404(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()
    await send(http, contact_id, "custom")  # a contact workflow exists under "contact:<id>"
    automation_id = await publish(http, TIMER_THEN_GOAL)
    for enrollment_id in (
        f"enr:{automation_id}:{contact_id}:1",
        "enr:nope",
        "nothing-like-an-id",
        f"contact:{contact_id}",
        f"automation:{automation_id}",
        "goalflow-catalog",
        "enr:" + "x" * 3000,
        "enr:%00",
        "enr:%E2%98%83",
    ):
        for method in ("GET", "DELETE"):
            answer = await http.request(method, f"/v1/enrollments/{enrollment_id}")
            assert answer.status_code == 404, (method, enrollment_id[:40], answer.text[:200])
            assert "not found" in answer.json()["detail"] or "not an" in answer.json()["detail"]


async def test_cancel_and_final_status(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    enrollment_id = await enrolled(http, automation_id, new_id())
    await until(http, enrollment_id, current_step="pause")

    cancelled = await http.delete(f"/v1/enrollments/{enrollment_id}")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"enrollment_id": enrollment_id, "status": "cancelled"}
    found = await view(http, enrollment_id)
    assert (found["status"], found["outcome"], found["waiting"]) == (
        "cancelled",
        "cancelled",
        None,
    )
    assert kinds(found)[-1] == ("ended", None)
    assert ("step_completed", "pause") not in kinds(found)
    again = await http.delete(f"/v1/enrollments/{enrollment_id}")
    assert again.status_code == 200
    assert again.json() == {"enrollment_id": enrollment_id, "status": "cancelled"}

    ends = await publish(http, ENDS_AT_ONCE)
    completed = await enrolled(http, ends, new_id())
    await until(http, completed, status="completed")
    answer = await http.delete(f"/v1/enrollments/{completed}")
    assert answer.status_code == 200
    assert answer.json() == {"enrollment_id": completed, "status": "completed"}


async def test_list_enrollments_with_filters_and_pages(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    buyer, waiter = new_id(), "o'brien+" + new_id()  # a quote must not break the query
    bought = await enrolled(http, automation_id, buyer)
    waits = await enrolled(http, automation_id, waiter)
    dropped = await enrolled(http, automation_id, new_id())
    await send(http, buyer, "custom", data={"name": "buy"})
    await until(http, bought, status="completed")
    assert (await http.delete(f"/v1/enrollments/{dropped}")).json()["status"] == "cancelled"

    async def listed(**params: Any) -> dict[str, Any]:
        answer = await http.get("/v1/enrollments", params=params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def ids(page: dict[str, Any]) -> set[str]:
        return {e["enrollment_id"] for e in page["enrollments"]}

    everything = await assert_eventually(
        lambda: listed(automation_id=automation_id),
        lambda page: ids(page) == {bought, waits, dropped},
    )
    summaries = {e["enrollment_id"]: e for e in everything["enrollments"]}
    assert summaries[waits]["contact_id"] == waiter
    assert summaries[waits]["automation_id"] == automation_id
    assert summaries[waits]["version"] == 1
    assert summaries[waits]["status"] == "active"

    assert ids(
        await assert_eventually(
            lambda: listed(automation_id=automation_id, status="completed"),
            lambda page: ids(page) == {bought},
        )
    ) == {bought}
    assert ids(
        await assert_eventually(
            lambda: listed(automation_id=automation_id, status="cancelled"),
            lambda page: ids(page) == {dropped},
        )
    ) == {dropped}
    assert ids(await listed(automation_id=automation_id, status="exited")) == set()
    active = await listed(automation_id=automation_id, status="active")
    assert ids(active) == {waits}
    assert ids(await listed(contact_id=waiter)) == {waits}
    assert ids(await listed(contact_id=buyer, status="active")) == set()
    assert ids(await listed(automation_id=new_id("a"))) == set()

    first = await listed(automation_id=automation_id, page_size=1)
    assert len(first["enrollments"]) == 1
    assert first["next_page_token"]
    second = await listed(
        automation_id=automation_id, page_size=1, next_page_token=first["next_page_token"]
    )
    third = await listed(
        automation_id=automation_id, page_size=1, next_page_token=second["next_page_token"]
    )
    assert ids(first) | ids(second) | ids(third) == {bought, waits, dropped}
    # A token is good only for the filters it was issued for.
    elsewhere = await http.get(
        "/v1/enrollments", params={"next_page_token": first["next_page_token"], "page_size": 1}
    )
    assert locs(elsewhere) == [["query", "next_page_token"]]

    for params, loc in (
        ({"status": "sleeping"}, ["query", "status"]),
        ({"page_size": 0}, ["query", "page_size"]),
        ({"page_size": 10**9}, ["query", "page_size"]),
        ({"next_page_token": "!!!"}, ["query", "next_page_token"]),
        ({"next_page_token": "AAAA"}, ["query", "next_page_token"]),
        ({"contact_id": "a b"}, ["query", "contact_id"]),
        ({"automation_id": "x'); DROP"}, ["query", "automation_id"]),
    ):
        answer = await http.get("/v1/enrollments", params=params)
        assert locs(answer) == [loc], params


async def test_contacts_with_quotes_and_backslashes_in_their_ids_are_listed(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    tail = new_id()
    odd = [
        f'say"hi"{tail}',
        f"back\\slash{tail}",
        f"ends-with\\{tail}\\",
        f"both\\\"'{tail}",
        f"\\'{tail}",
        f"\\\\{tail}",
        f"per%cent_under{tail}",
    ]
    enrollments = {c: await enrolled(http, automation_id, c) for c in odd}

    async def listed(contact_id: str) -> set[str]:
        answer = await http.get("/v1/enrollments", params={"contact_id": contact_id})
        assert answer.status_code == 200, answer.text
        return {e["enrollment_id"] for e in answer.json()["enrollments"]}

    for contact_id, enrollment_id in enrollments.items():
        found = await assert_eventually(
            lambda contact_id=contact_id: listed(contact_id),  # type: ignore[misc]
            lambda ids, enrollment_id=enrollment_id: ids == {enrollment_id},  # type: ignore[misc]
        )
        assert found == {enrollment_id}, contact_id
    # In the automation's list, each names its contact as it is.
    answer = await http.get("/v1/enrollments", params={"automation_id": automation_id})
    named = {e["contact_id"] for e in answer.json()["enrollments"]}
    assert named == set(odd)
