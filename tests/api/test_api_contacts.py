"""Contacts, tags and trigger links over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api_helpers import (
    TIMER_THEN_GOAL,
    contact,
    enrolled,
    held_at_goal,
    kinds,
    locs,
    publish,
    until,
)
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# --- contacts and tags -----------------------------------------------------------------------


async def test_contact_view_and_unknown_contacts(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    contact_id = "ünïcødé.o'neil+" + new_id() + "@example.com"
    enrollment_id = await enrolled_with(
        http, automation_id, {"id": contact_id, "tags": ["lead"], "fields": {"plan": "pro"}}
    )
    found = await contact(http, contact_id)
    assert found["contact_id"] == contact_id
    assert found["tags"] == ["lead"]
    assert found["fields"] == {"plan": "pro"}
    assert found["active_enrollments"] == [
        {"enrollment_id": enrollment_id, "automation_id": automation_id, "version": 1}
    ]

    for unknown in (new_id(), "has%20space", "%00", "x" * 300):
        answer = await http.get(f"/v1/contacts/{unknown}")
        assert answer.status_code == 404, (unknown[:20], answer.text[:200])
        assert "not found" in answer.json()["detail"]


async def enrolled_with(
    http: httpx.AsyncClient, automation_id: str, contact_body: dict[str, Any]
) -> str:
    answer = await http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": contact_body}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["enrollment_id"])


async def test_tag_changes_become_events_that_meet_goals(stack: Stack) -> None:
    http = stack.http
    added = await publish(http, held_at_goal({"event": "contact.tag_added", "tag": "vip"}))
    removed = await publish(http, held_at_goal({"event": "contact.tag_removed", "tag": "lead"}))
    # Met only by a real change: adding a tag the contact already has is no event.
    noop = await publish(
        http,
        {
            "name": "no-op tag",
            "steps": [
                {
                    "id": "lead-again",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "lead"}],
                    "if_unmet": {"action": "wait"},
                },
                {
                    "id": "later",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "later"}],
                    "on_met": {"action": "end"},
                },
            ],
        },
    )
    contact_id = new_id()
    by_add = await enrolled_with(http, added, {"id": contact_id, "tags": ["lead"]})
    by_remove = await enrolled(http, removed, contact_id)
    by_noop = await enrolled(http, noop, contact_id)

    change = await http.post(
        f"/v1/contacts/{contact_id}/tags", json={"add": ["vip", "lead"], "remove": ["missing"]}
    )
    assert change.status_code == 202
    assert (change.json()["added"], change.json()["removed"]) == (["vip"], [])
    done = await until(http, by_add, status="completed")
    assert done["goals"][0]["met"] is True
    assert ("goal_met", "goal") in kinds(done)

    change = await http.post(f"/v1/contacts/{contact_id}/tags", json={"remove": ["lead"]})
    assert (change.status_code, change.json()["removed"]) == (202, ["lead"])
    assert (await until(http, by_remove, status="completed"))["goals"][0]["met"] is True

    # An idempotency key applies a change once.
    keyed = {"add": ["keyed"], "id": "change-1"}
    once = await http.post(f"/v1/contacts/{contact_id}/tags", json=keyed)
    assert (once.json()["added"], once.json()["duplicate"]) == (["keyed"], False)
    twice = await http.post(f"/v1/contacts/{contact_id}/tags", json=keyed)
    assert (twice.status_code, twice.json()["added"], twice.json()["duplicate"]) == (
        202,
        [],
        True,
    )

    await http.post(f"/v1/contacts/{contact_id}/tags", json={"add": ["later"]})
    finished = await until(http, by_noop, status="completed")
    goals = {g["step_id"]: g["met"] for g in finished["goals"]}
    assert goals == {"lead-again": False, "later": True}

    # Both tag goals sent the contact through the "mark" step, which added its tag.
    tags = (
        await assert_eventually(
            lambda: contact(http, contact_id), lambda c: "went-through" in c["tags"]
        )
    )["tags"]
    assert sorted(tags) == ["keyed", "later", "vip", "went-through"]

    for body, expected in (
        ({"add": [""]}, [["body", "add", 0]]),
        ({"add": "vip"}, [["body", "add"]]),
        ({"replace": ["x"]}, [["body", "replace"]]),
    ):
        assert locs(await http.post(f"/v1/contacts/{contact_id}/tags", json=body)) == expected
    bad_id = await http.post("/v1/contacts/has%20space/tags", json={"add": ["x"]})
    assert locs(bad_id) == [["path", "contact_id"]]


# --- trigger links ---------------------------------------------------------------------------


async def test_trigger_links(stack: Stack) -> None:
    http = stack.http
    link_id = new_id("l")
    put = await http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Book", "url": "https://example.com/b"}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"link_id": link_id, "name": "Book", "url": "https://example.com/b"}
    replaced = await http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Book", "url": "https://example.com/c"}
    )
    assert replaced.json()["url"] == "https://example.com/c"

    listed = await http.get("/v1/trigger-links")
    assert listed.status_code == 200
    links = {link["link_id"]: link for link in listed.json()["trigger_links"]}
    assert links[link_id] == {"link_id": link_id, "name": "Book", "url": "https://example.com/c"}

    for body, expected in (
        ({"name": "x", "url": "ftp://nope"}, [["body", "url"]]),
        ({"url": "https://example.com"}, [["body", "name"]]),
        ({"name": "x", "url": "https://example.com", "extra": 1}, [["body", "extra"]]),
    ):
        assert locs(await http.put(f"/v1/trigger-links/{link_id}", json=body)) == expected
    bad_id = await http.put("/v1/trigger-links/Bad Id", json={"name": "x", "url": "https://e.x"})
    assert locs(bad_id) == [["path", "link_id"]]
