"""Record the workflow histories replayed by tests/test_replay.py.

    python -m tests.histories.record

Run it when a deliberate, `workflow.patched`-guarded change should be pinned by new histories;
the old files stay, so older histories keep being replayed too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.binaries import temporal_test_server
from tests.helpers import Engine, running_engine
from workflows.messages import contact_workflow_id

HERE = Path(__file__).parent

BUY = [{"event": "custom", "name": "buy"}]

SCENARIOS: dict[str, dict[str, Any]] = {
    "early_goal": {
        "name": "early goal",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P2D"},
            {"id": "skipped", "type": "add_tag", "tag": "never"},
            {"id": "g", "type": "goal", "any_of": BUY},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    "if_unmet_wait_timeout": {
        "name": "wait then time out",
        "steps": [
            {
                "id": "g",
                "type": "goal",
                "any_of": BUY,
                "if_unmet": {"action": "wait", "timeout": "P14D", "on_timeout": "end"},
            }
        ],
    },
    "goto": {
        "name": "goto",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "on_met": {"action": "goto", "step": "t"}},
            {"id": "skipped", "type": "add_tag", "tag": "never"},
            {"id": "t", "type": "add_tag", "tag": "target"},
        ],
    },
    "cancel": {
        "name": "cancel",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P30D"},
            {"id": "never", "type": "add_tag", "tag": "never"},
        ],
    },
}


async def _record(engine: Engine, name: str, definition: dict[str, Any]) -> dict[str, str]:
    contact = f"replay-{name}"
    enrolled = await engine.enroll(definition, contact, automation_id=name.replace("_", "-"))
    if name in ("early_goal", "goto"):
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.send(contact, "custom", {"name": "buy"}, id=f"{name}-buy")
    if name == "cancel":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.client.get_workflow_handle(enrolled.enrollment_id).cancel()
    await engine.result(enrolled.enrollment_id)
    enrollment = await engine.client.get_workflow_handle(enrolled.enrollment_id).fetch_history()
    contact_history = await engine.client.get_workflow_handle(
        contact_workflow_id(contact)
    ).fetch_history()
    return {
        f"enrollment_{name}": enrollment.to_json(),
        f"contact_{name}": contact_history.to_json(),
    }


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    async with env, running_engine(env) as engine:
        for name, definition in SCENARIOS.items():
            for file, history in (await _record(engine, name, definition)).items():
                path = HERE / f"{file}.json"
                path.write_text(json.dumps(json.loads(history), indent=1) + "\n")
                print("wrote", path.relative_to(HERE.parent.parent))


if __name__ == "__main__":
    asyncio.run(main())
