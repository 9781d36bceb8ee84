"""Search attributes (docs/temporal-ui.md): they follow the enrollment, keep its last step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import assert_eventually, new_id, running_engine
from workflows.search_attributes import GOALS_MET, STEP

# Tag → wait (cut short by the goal) → goal, held until met → tag.
DEFINITION: dict[str, Any] = {
    "name": "Search attributes",
    "steps": [
        {"id": "hello", "type": "add_tag", "tag": "hello"},
        {"id": "pause", "type": "wait", "duration": "PT30S"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait"},
        },
        {"id": "thanks", "type": "add_tag", "tag": "thanks"},
    ],
}


def _decoded(payload: Any) -> Any:
    return json.loads(payload.data) if payload.data else None


@pytest.mark.parametrize("first_types", [True, False], ids=["first types", "V2 types"])
async def test_search_attributes_follow_the_steps_and_goals(
    dev_env: WorkflowEnvironment, first_types: bool
) -> None:
    async with running_engine(dev_env) as engine:
        engine.first_types = first_types
        contact_id = new_id()
        enrolled = await engine.enroll(DEFINITION, contact_id, automation_id="sa")
        await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "pause")
        await engine.send(contact_id, "custom", {"name": "buy"})
        final = await engine.result(enrolled.enrollment_id)
        assert final.status == "completed"

        handle = dev_env.client.get_workflow_handle(enrolled.enrollment_id)
        history = await handle.fetch_history()
        written = []
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                continue
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if "GoalflowStep" not in fields.indexed_fields:
                continue  # the patch marker's TemporalChangeVersion
            written.append(
                (
                    _decoded(fields.indexed_fields["GoalflowStep"]),
                    _decoded(fields.indexed_fields["GoalflowGoalsMet"]),
                )
            )
        started = history.events[0].workflow_execution_started_event_attributes.search_attributes
        if first_types:
            # The first step is given at start; then written where the enrollment pauses and
            # where it ends, each value once (patch search-attributes-at-pauses): the goal met
            # during the wait moved the contact on, so it shows with the end.
            assert _decoded(started.indexed_fields["GoalflowStep"]) == "hello"
            assert written == [("pause", []), ("thanks", ["bought"])], written
        else:
            # V2: the start already says where the enrollment first stops, the wait, so
            # pausing there writes nothing; the end is written as before.
            assert _decoded(started.indexed_fields["GoalflowStep"]) == "pause"
            assert _decoded(started.indexed_fields["GoalflowReached"]) == ["hello", "pause"]
            assert written == [("thanks", ["bought"])], written
        assert history.events[0].workflow_execution_started_event_attributes.workflow_type.name == (
            "EnrollmentWorkflow" if first_types else "EnrollmentWorkflowV2"
        )
        described = (await handle.describe()).typed_search_attributes
        assert described.get(STEP) == "thanks"
        assert described.get(GOALS_MET) == ["bought"]


# Waiting at goal `later`; the event meets `earlier`, behind it: no move (R7), the contact
# stays where it waits.
BEHIND: dict[str, Any] = {
    "name": "Goal met behind",
    "steps": [
        {
            "id": "earlier",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "look"}],
            "if_unmet": {"action": "continue"},
        },
        {
            "id": "later",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait"},
        },
        {"id": "done", "type": "add_tag", "tag": "done"},
    ],
}


async def test_a_goal_met_while_paused_shows_at_once(dev_env: WorkflowEnvironment) -> None:
    async with running_engine(dev_env) as engine:
        contact_id = new_id()
        enrolled = await engine.enroll(BEHIND, contact_id, automation_id="sa-behind")
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        handle = dev_env.client.get_workflow_handle(enrolled.enrollment_id)
        assert (await handle.describe()).typed_search_attributes.get(STEP) == "later"
        await engine.send(contact_id, "custom", {"name": "look"})
        described = await assert_eventually(
            lambda: handle.describe(),
            lambda d: d.typed_search_attributes.get(GOALS_MET) == ["earlier"],
        )
        assert described.typed_search_attributes.get(STEP) == "later"
        view = await engine.view(enrolled.enrollment_id)
        assert view.status == "active"
        assert view.waiting is not None and view.waiting.goal == "later"
