"""The automation lifecycle: `?activate=false`, pause/resume, `state` in the views, and R17 (a
paused automation enrolls nobody; its running enrollments go on)."""

from __future__ import annotations

from typing import Any

from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

WAIT_THEN_TAG: dict[str, Any] = {
    "name": "wait then tag",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "PT2S"},
        {"id": "mark", "type": "add_tag", "tag": "went-on"},
    ],
}


async def state_of(stack: Stack, automation_id: str) -> str:
    answer = await stack.http.get(f"/v1/automations/{automation_id}")
    assert answer.status_code == 200, answer.text
    state: str = answer.json()["state"]
    listed = (await stack.http.get("/v1/automations")).json()["automations"]
    assert [a["state"] for a in listed if a["automation_id"] == automation_id] == [state]
    return state


async def test_publish_activates_unless_told_not_to(stack: Stack) -> None:
    http = stack.http
    active, paused = new_id("a"), new_id("a")
    answer = await http.put(f"/v1/automations/{active}", json=WAIT_THEN_TAG)
    assert (answer.status_code, answer.json()["state"]) == (201, "active")
    assert await state_of(stack, active) == "active"

    answer = await http.put(f"/v1/automations/{paused}?activate=false", json=WAIT_THEN_TAG)
    assert (answer.status_code, answer.json()["state"]) == (201, "paused")
    assert await state_of(stack, paused) == "paused"
    # A new version without activating keeps the state, either way.
    v2 = {**WAIT_THEN_TAG, "name": "v2"}
    answer = await http.put(f"/v1/automations/{paused}?activate=false", json=v2)
    assert (answer.status_code, answer.json()["version"], answer.json()["state"]) == (
        201,
        2,
        "paused",
    )
    answer = await http.put(f"/v1/automations/{active}?activate=false", json=v2)
    assert (answer.json()["version"], answer.json()["state"]) == (2, "active")
    # A plain PUT activates ("save and activate"), even with the same body.
    answer = await http.put(f"/v1/automations/{paused}", json=v2)
    assert (answer.status_code, answer.json()["state"]) == (200, "active")
    assert await state_of(stack, paused) == "active"


async def test_pause_refuses_enrollments_and_running_ones_go_on(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("a")
    assert (await http.put(f"/v1/automations/{automation_id}", json=WAIT_THEN_TAG)).is_success
    url = f"/v1/automations/{automation_id}/enrollments"
    running = new_id()
    answer = await http.post(url, json={"contact": {"id": running}})
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]

    answer = await http.post(f"/v1/automations/{automation_id}/pause")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"automation_id": automation_id, "state": "paused"}
    assert await state_of(stack, automation_id) == "paused"

    answer = await http.post(url, json={"contact": {"id": new_id()}})
    assert answer.status_code == 409, answer.text
    assert "paused" in answer.json()["detail"]
    # Bulk rows are rejected with a reason.
    late = [{"id": new_id()}, {"id": new_id()}]
    answer = await http.post(f"{url}/bulk", json={"contacts": late})
    assert answer.status_code == 202, answer.text
    job_url = f"/v1/jobs/{answer.json()['job_id']}"
    job = await assert_eventually(
        lambda: http.get(job_url), lambda r: r.json()["status"] == "completed", within=30
    )
    body = job.json()
    assert (body["created"], body["existing"]) == (0, 0)
    assert sorted(r["index"] for r in body["rejected"]) == [0, 1]
    assert all("paused" in r["reason"] for r in body["rejected"])

    # The running enrollment goes on to the end.
    final = await assert_eventually(
        lambda: http.get(f"/v1/enrollments/{enrollment_id}"),
        lambda r: r.json()["status"] == "completed",
        within=30,
    )
    assert final.json()["outcome"] == "completed"

    answer = await http.post(f"/v1/automations/{automation_id}/resume")
    assert answer.json() == {"automation_id": automation_id, "state": "active"}
    answer = await http.post(url, json={"contact": {"id": new_id()}})
    assert answer.status_code == 201, answer.text


async def test_pause_and_resume_unknown_automation_is_404(stack: Stack) -> None:
    for action in ("pause", "resume"):
        answer = await stack.http.post(f"/v1/automations/{new_id('a')}/{action}")
        assert answer.status_code == 404, answer.text
        answer = await stack.http.post(f"/v1/automations/Not An Id/{action}")
        assert answer.status_code == 404, answer.text
