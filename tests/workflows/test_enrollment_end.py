"""The contact learns that an enrollment ended from the child's completion, which its history
holds anyway; an enrollment started by an earlier run of the contact reports its end by signal
(patch contact-learns-end-from-child-completion)."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, assert_eventually, new_id, running_engine
from workflows.messages import contact_workflow_id

HELD = {
    "name": "held until finish",
    "steps": [
        {
            "id": "g",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "finish"}],
            "if_unmet": {"action": "wait"},
        }
    ],
}


async def _event_types(engine: WorkflowDriver, workflow_id: str) -> list[Any]:
    history = await engine.client.get_workflow_handle(workflow_id).fetch_history()
    return [event.event_type for event in history.events]


async def _run_id(engine: WorkflowDriver, contact: str) -> str | None:
    handle = engine.client.get_workflow_handle(contact_workflow_id(contact))
    return (await handle.describe()).run_id


async def test_the_contact_learns_the_end_from_the_completion(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact = new_id()
        enrolled = await engine.enroll(HELD, contact)
        assert [a.enrollment_id for a in (await engine.contact(contact)).active_enrollments] == [
            enrolled.enrollment_id
        ]
        await engine.send(contact, "custom", {"name": "finish"})
        final = await engine.result(enrolled.enrollment_id)
        assert final.status == "completed"
        await assert_eventually(
            lambda: engine.contact(contact), lambda v: v.active_enrollments == [], within=30
        )
        enrollment_events = await _event_types(engine, enrolled.enrollment_id)
        assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in (
            enrollment_events
        )
        contact_events = await _event_types(engine, contact_workflow_id(contact))
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in contact_events
        assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED in contact_events


async def test_an_enrollment_of_an_earlier_contact_run_reports_its_end_by_signal(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact = new_id()
        enrolled = await engine.enroll(HELD, contact, continue_as_new_after_ops=3)
        first_run = await _run_id(engine, contact)
        for i in range(4):
            await engine.send(contact, "custom", {"name": f"noise-{i}"}, id=f"noise-{i}")
        await assert_eventually(
            lambda: _run_id(engine, contact), lambda run: run != first_run, within=30
        )
        await engine.send(contact, "custom", {"name": "finish"}, id="finish")
        final = await engine.result(enrolled.enrollment_id)
        assert final.status == "completed"
        # The new run is not the enrollment's parent: it learns of the end by the signal.
        await assert_eventually(
            lambda: engine.contact(contact), lambda v: v.active_enrollments == [], within=30
        )
        enrollment_events = await _event_types(engine, enrolled.enrollment_id)
        assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED in (
            enrollment_events
        )
