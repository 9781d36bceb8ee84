"""The two generations of workflow types (docs/temporal-ui.md): contacts and enrollments start
as ContactWorkflowV2 / EnrollmentWorkflowV2, with no patch markers in their histories; contacts
started as the first types stay them, and keep starting the enrollment type their histories
hold."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from goalflow.service.visibility import enrollment_query, status_of
from tests.support.helpers import assert_eventually, new_id, running_engine
from workflows.definition import Automation
from workflows.enrollment import first_stop
from workflows.messages import contact_workflow_id

BUY = [{"event": "custom", "name": "buy"}]
TAG_WAIT_GOAL: dict[str, Any] = {
    "name": "Types",
    "steps": [
        {"id": "hello", "type": "add_tag", "tag": "hello"},
        {"id": "pause", "type": "wait", "duration": "PT30S"},
        {"id": "bought", "type": "goal", "any_of": BUY, "if_unmet": {"action": "wait"}},
        {"id": "thanks", "type": "add_tag", "tag": "thanks"},
    ],
}
UNMET_ENDS: dict[str, Any] = {
    "name": "Unmet ends",
    "steps": [{"id": "bought", "type": "goal", "any_of": BUY, "if_unmet": {"action": "end"}}],
}


def _steps(*steps: dict[str, Any]) -> list[str]:
    automation = Automation.model_validate({"name": "x", "steps": list(steps)})
    return first_stop(automation.steps)


def test_first_stop_runs_through_actions_to_the_first_place_that_can_stop() -> None:
    email = {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"}
    tag = {"id": "tag", "type": "add_tag", "tag": "t"}
    wait = {"id": "wait", "type": "wait", "duration": "P1D"}
    goal = {"id": "goal", "type": "goal", "any_of": BUY}
    end = {"id": "end", "type": "end"}
    assert _steps(email, tag, wait, goal) == ["mail", "tag", "wait"]
    assert _steps(goal, wait) == ["goal"]
    assert _steps(wait) == ["wait"]
    assert _steps(tag, end) == ["tag", "end"]
    # Only actions: the last one (the enrollment then ends there).
    assert _steps(email, tag) == ["mail", "tag"]


def _type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def _patch_traces(history: WorkflowHistory) -> list[str]:
    """Patch markers and TemporalChangeVersion upserts in a history."""
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            name = event.marker_recorded_event_attributes.marker_name
            if name == "core_patch":
                found.append(name)
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if "TemporalChangeVersion" in fields.indexed_fields:
                found.append("TemporalChangeVersion")
    return found


async def _finish(engine: Any, contact_id: str, enrollment_id: str) -> None:
    await engine.until(enrollment_id, lambda v: v.current_step == "pause")
    await engine.send(contact_id, "custom", {"name": "buy"})
    assert (await engine.result(enrollment_id)).status == "completed"


async def test_new_contacts_and_enrollments_are_v2_without_patch_markers(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact_id = new_id()
        enrolled = await engine.enroll(TAG_WAIT_GOAL, contact_id, automation_id="types-v2")
        await _finish(engine, contact_id, enrolled.enrollment_id)
        enrollment = await dev_env.client.get_workflow_handle(
            enrolled.enrollment_id
        ).fetch_history()
        contact = await dev_env.client.get_workflow_handle(
            contact_workflow_id(contact_id)
        ).fetch_history()
        assert (_type(contact), _type(enrollment)) == ("ContactWorkflowV2", "EnrollmentWorkflowV2")
        assert _patch_traces(contact) == [] and _patch_traces(enrollment) == []

        # The same work as the first types: their histories do carry the patches.
        engine.first_types = True
        old_contact_id = new_id()
        old = await engine.enroll(TAG_WAIT_GOAL, old_contact_id, automation_id="types-v1")
        await _finish(engine, old_contact_id, old.enrollment_id)
        old_history = await dev_env.client.get_workflow_handle(old.enrollment_id).fetch_history()
        assert _type(old_history) == "EnrollmentWorkflow"
        assert "core_patch" in _patch_traces(old_history)


async def test_a_contact_of_the_first_type_stays_it_and_starts_first_type_enrollments(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact_id = new_id()
        engine.first_types = True
        first = await engine.enroll(TAG_WAIT_GOAL, contact_id, automation_id="stays-1")
        # Now reached as the API reaches every contact: update-with-start naming the V2 type.
        engine.first_types = False
        second = await engine.enroll(TAG_WAIT_GOAL, contact_id, automation_id="stays-2")
        contact = dev_env.client.get_workflow_handle(contact_workflow_id(contact_id))
        assert (await contact.describe()).workflow_type == "ContactWorkflow"
        for enrolled in (first, second):
            described = await dev_env.client.get_workflow_handle(enrolled.enrollment_id).describe()
            assert described.workflow_type == "EnrollmentWorkflow"
        # Both enrollments still get the contact's events, and go on to the end.
        await engine.until(second.enrollment_id, lambda v: v.current_step == "pause")
        await engine.send(contact_id, "custom", {"name": "buy"})
        for enrolled in (first, second):
            assert (await engine.result(enrolled.enrollment_id)).status == "completed"


async def test_v2_status_reads_the_same_without_a_memo_write_at_a_plain_completion(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact_id = new_id()
        done = await engine.enroll(TAG_WAIT_GOAL, contact_id, automation_id="memo-done")
        await _finish(engine, contact_id, done.enrollment_id)
        exited = await engine.enroll(UNMET_ENDS, contact_id, automation_id="memo-exited")
        assert (await engine.result(exited.enrollment_id)).status == "exited"

        history = await dev_env.client.get_workflow_handle(done.enrollment_id).fetch_history()
        kinds = [event.event_type for event in history.events]
        assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED not in kinds
        history = await dev_env.client.get_workflow_handle(exited.enrollment_id).fetch_history()
        kinds = [event.event_type for event in history.events]
        assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED in kinds

        async def statuses() -> dict[str, str]:
            found: dict[str, str] = {}
            async for execution in dev_env.client.list_workflows(
                enrollment_query(contact_id=contact_id)
            ):
                found[execution.id] = status_of(execution, await execution.memo())
            return found

        expected = {done.enrollment_id: "completed", exited.enrollment_id: "exited"}
        assert await assert_eventually(statuses, lambda found: found == expected) == expected
