"""Stats and listing against the enrollments themselves (acceptance 3 of issue 5)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

GO = [{"event": "custom", "name": "go"}]
# Tagged contacts wait (active) until "go" moves them to the goal (completed, goal met);
# the others reach the goal at once and exit unmet.
DEFINITION = {
    "name": "stats",
    "steps": [
        {"id": "route", "type": "if_else", "if": {"has_tag": "stay"}, "then": "hold",
         "else": "check"},
        {"id": "hold", "type": "wait", "duration": "P1D"},
        {"id": "check", "type": "goal", "any_of": GO, "if_unmet": {"action": "end"}},
    ],
}  # fmt: skip
V2 = {**DEFINITION, "steps": [*DEFINITION["steps"], {"id": "g2", "type": "goal", "any_of": GO}]}


async def all_pages(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(100):
        query = {**params, **({"next_page_token": token} if token else {})}
        answer = await http.get("/v1/enrollments", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["enrollments"]) <= params.get("page_size", 100)
        items += page["enrollments"]
        token = page["next_page_token"]
        if not token:
            return items
    raise AssertionError("paging did not end")


async def test_stats_and_listing_match_the_enrollments(stack: Stack) -> None:
    http = stack.http
    automation = new_id("stats")
    assert (await http.put(f"/v1/automations/{automation}", json=DEFINITION)).status_code == 201
    assert (await http.put(f"/v1/automations/{automation}", json=V2)).status_code == 201

    stay = [new_id() for _ in range(8)]
    leave = [new_id() for _ in range(4)]
    enrollment_of: dict[str, str] = {}
    for contact in stay + leave:
        tags = ["stay"] if contact in stay else []
        answer = await http.post(
            f"/v1/automations/{automation}/enrollments",
            json={"contact": {"id": contact, "tags": tags}, "version": 1},
        )
        assert answer.status_code == 201, answer.text
        enrollment_of[contact] = answer.json()["enrollment_id"]
    for contact in stay[:3]:
        event = {"contact_id": contact, "type": "custom", "data": {"name": "go"}}
        assert (await http.post("/v1/events", json=event)).status_code == 202
    for contact in stay[3:5]:
        assert (await http.delete(f"/v1/enrollments/{enrollment_of[contact]}")).status_code == 200

    # What the enrollments themselves say, once they have settled.
    async def statuses() -> dict[str, str]:
        return {
            contact: (await http.get(f"/v1/enrollments/{enrollment}")).json()["status"]
            for contact, enrollment in enrollment_of.items()
        }

    truth = await assert_eventually(
        statuses, lambda s: Counter(s.values())["active"] == 3, within=30
    )
    expected = Counter(truth.values())
    assert expected == {"active": 3, "completed": 3, "exited": 4, "cancelled": 2}

    async def stats() -> dict[str, Any]:
        answer = await http.get(f"/v1/automations/{automation}/stats")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    wanted = {
        "enrolled": 12,
        **{status: expected.get(status, 0) for status in ("active", "completed", "exited")},
        "cancelled": 2,
        "failed": 0,
        "goals": {"check": {"met": 3}, "g2": {"met": 0}},
        "triggers": {},
    }
    assert await assert_eventually(stats, lambda s: s == wanted) == wanted

    # Listing: every enrollment once, across pages, with the status the enrollment reports.
    listed = await assert_eventually(
        lambda: all_pages(http, automation_id=automation, page_size=5), lambda e: len(e) == 12
    )
    assert {e["enrollment_id"] for e in listed} == set(enrollment_of.values())
    by_contact = {e["contact_id"]: e for e in listed}
    assert {c: e["status"] for c, e in by_contact.items()} == truth
    assert all(e["automation_id"] == automation and e["version"] == 1 for e in listed)

    # Filters: status (on ended statuses too, across small pages) and contact.
    for status, count in expected.items():
        page = await all_pages(http, automation_id=automation, status=status, page_size=2)
        assert sorted(e["contact_id"] for e in page) == sorted(
            c for c, s in truth.items() if s == status
        ), status
        assert len(page) == count
    one = await all_pages(http, automation_id=automation, contact_id=leave[0])
    assert [e["enrollment_id"] for e in one] == [enrollment_of[leave[0]]]
    assert await all_pages(http, contact_id=leave[0]) == one


async def test_stats_of_an_unknown_automation_is_404(stack: Stack) -> None:
    assert (await stack.http.get("/v1/automations/never-published/stats")).status_code == 404
    assert (await stack.http.get("/v1/automations/Not%20An%20Id/stats")).status_code == 404


async def test_a_forged_page_token_is_refused(stack: Stack) -> None:
    answer = await stack.http.get("/v1/enrollments", params={"next_page_token": "forged"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "next_page_token"]
