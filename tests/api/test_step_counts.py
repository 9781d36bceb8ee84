"""`GET /v1/automations/{id}/steps`: per step of a version, `here`, `reached` and (goals) `met`,
from visibility counts (eventually consistent)."""

from __future__ import annotations

from typing import Any

from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

FUNNEL: dict[str, Any] = {
    "name": "funnel",
    "steps": [
        {"id": "hello", "type": "add_tag", "tag": "greeted", "name": "Say hello"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "P1D"},
        },
        {"id": "thanks", "type": "add_tag", "tag": "thanked"},
    ],
}


async def test_steps_count_here_reached_and_met_per_version(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("a")
    url = f"/v1/automations/{automation_id}"
    assert (await http.put(url, json=FUNNEL)).status_code == 201
    contacts = [new_id() for _ in range(3)]
    for contact_id in contacts:
        answer = await http.post(f"{url}/enrollments", json={"contact": {"id": contact_id}})
        assert answer.status_code == 201, answer.text
    # One buys: it goes through the goal to the end.
    await http.post(
        "/v1/events", json={"contact_id": contacts[0], "type": "custom", "data": {"name": "buy"}}
    )
    # Version 2 is counted apart.
    assert (await http.put(url, json={**FUNNEL, "name": "v2"})).status_code == 201

    async def steps(version: int | None = None) -> dict[str, Any]:
        answer = await http.get(f"{url}/steps", params={"version": version} if version else {})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    want = [
        {"step_id": "hello", "type": "add_tag", "name": "Say hello", "here": 0, "reached": 3},
        {"step_id": "bought", "type": "goal", "name": None, "here": 2, "reached": 3, "met": 1},
        {"step_id": "thanks", "type": "add_tag", "name": None, "here": 0, "reached": 1},
    ]
    v1 = await assert_eventually(lambda: steps(1), lambda b: b["steps"] == want, within=30)
    assert (v1["automation_id"], v1["version"]) == (automation_id, 1)
    latest = await steps()
    assert latest["version"] == 2
    assert [(s["here"], s["reached"]) for s in latest["steps"]] == [(0, 0)] * 3
    assert (await http.get(f"{url}/steps", params={"version": 3})).status_code == 404
    assert (await http.get(f"/v1/automations/{new_id('a')}/steps")).status_code == 404
