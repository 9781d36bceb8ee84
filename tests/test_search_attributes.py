"""Search attributes (docs/temporal-ui.md): they follow the enrollment, keep its last step."""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.helpers import new_id, running_engine
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


async def test_search_attributes_follow_the_steps_and_goals(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
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
            written.append(
                (
                    _decoded(fields.indexed_fields["GoalflowStep"]),
                    _decoded(fields.indexed_fields["GoalflowGoalsMet"]),
                )
            )
        # Every step entered and the goal met, in order. (Some values are written twice in a
        # row: entering a wait and starting to wait both write. Dropping the repeats would
        # take a workflow.patched marker and its TemporalChangeVersion upsert, as many history
        # events as it saves in a short enrollment.)
        changes = [w for n, w in enumerate(written) if n == 0 or written[n - 1] != w]
        assert changes == [
            ("hello", []),
            ("pause", []),
            ("pause", ["bought"]),
            ("thanks", ["bought"]),
        ], written
        assert len(written) <= 2 * len(changes)
        described = (await handle.describe()).typed_search_attributes
        assert described.get(STEP) == "thanks"
        assert described.get(GOALS_MET) == ["bought"]
