"""The largest automation the limits accept, one enrollment and a batch of events: every event
reaches the enrollment, no workflow task fails (the deadlock detector stops a task after 2 s),
and the worker keeps serving other contacts meanwhile.

The report's run sent 1,000 events; the contact forwards one event per workflow task (about
0.1 s each on a loaded 2-core machine), so 200 keep the test under a minute with the same
automation: the work per event is what the limits bound, not the batch's length."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType

from tests.support.api_helpers import view
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.criteria_limits import MAX_GOAL_CRITERIA
from workflows.messages import contact_workflow_id

EVENTS = 200
PER_STEP = 20


def largest() -> dict[str, Any]:
    """Goal criteria up to the cap, of the kind the index cannot narrow (custom criteria with
    no name, compared key by key): each event is tried against all of them."""
    steps: list[dict[str, Any]] = [{"id": "hold", "type": "wait", "duration": "P1D"}]
    for i in range(MAX_GOAL_CRITERIA // PER_STEP):
        any_of = [
            {"event": "custom", "where": {"k": f"v{i}-{j}", "plan": "pro"}} for j in range(PER_STEP)
        ]
        steps.append({"id": f"g{i}", "type": "goal", "any_of": any_of, "jump_from": "anywhere"})
    return {"name": "largest", "steps": steps}


async def failed_tasks(stack: Stack, workflow_id: str) -> int:
    handle = stack.env.client.get_workflow_handle(workflow_id)
    return sum(
        [
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            async for event in handle.fetch_history_events()
        ]
    )


async def test_the_largest_automation_and_a_batch_keep_the_worker_serving(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("largest")
    published = await http.put(f"/v1/automations/{automation_id}", json=largest())
    assert published.status_code == 201, published.text
    contact_id = new_id()
    answer = await http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": contact_id}}
    )
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]

    last = MAX_GOAL_CRITERIA // PER_STEP - 1
    events = [
        {
            "id": f"e{n}",
            "contact_id": contact_id,
            "type": "custom",
            "data": {"k": "x", "plan": "pro"},
        }
        for n in range(EVENTS - 1)
    ]
    events.append(
        {
            "id": "last",
            "contact_id": contact_id,
            "type": "custom",
            "data": {"k": f"v{last}-{PER_STEP - 1}", "plan": "pro"},
        }
    )
    batch = await http.post("/v1/events/batch", json={"events": events})
    assert (batch.status_code, batch.json()["accepted"]) == (202, EVENTS), batch.text

    # Another contact is served while the batch is forwarded.
    other = await http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": new_id()}}
    )
    assert other.status_code == 201, other.text

    # The contact forwards one event per workflow task: a few tenths of a second each at worst.
    found = await assert_eventually(
        lambda: view(http, enrollment_id), lambda v: v["status"] == "completed", within=EVENTS * 0.5
    )
    met = [g for g in found["goals"] if g["met"]]
    assert [(g["step_id"], g["event_id"]) for g in met] == [(f"g{last}", "last")]
    assert await failed_tasks(stack, enrollment_id) == 0
    assert await failed_tasks(stack, contact_workflow_id(contact_id)) == 0
