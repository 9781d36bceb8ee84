"""Record histories of the message budget (R20, patch enrollment-waits-for-budget), replayed by
tests/unit/test_replay.py like the enrollment histories of record.py: a send deferred by the cap
then sent, one skipped, one whose wait a goal cut short, and the contacts that granted them.

    python -m tests.histories.record_budget

On the time-skipping server, with the real send activities (over a local SMTP sink), which ask
the contact's budget as in production.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink
from tests.support.helpers import WorkflowDriver, running_engine, temporal_test_server
from tests.support.stack import free_port
from workflows.automation import CatalogWorkflow
from workflows.budget import MessagingPolicy
from workflows.messages import CatalogState, catalog_workflow_id, contact_workflow_id

HERE = Path(__file__).parent
BUY = [{"event": "custom", "name": "buy"}]
HELLO = {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"}


def automation(name: str, *steps: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": name, "settings": settings, "steps": [HELLO, *steps]}


async def _history(engine: WorkflowDriver, workflow_id: str) -> str:
    return (await engine.client.get_workflow_handle(workflow_id).fetch_history()).to_json()


async def _waiting(engine: WorkflowDriver, enrollment_id: str) -> None:
    await engine.until(enrollment_id, lambda v: v.waiting is not None)


async def _record(engine: WorkflowDriver) -> dict[str, str]:
    await engine.client.execute_update_with_start_workflow(
        CatalogWorkflow.set_messaging_policy,
        MessagingPolicy.model_validate({"email": {"max": 1, "per": "P1D"}}),
        start_workflow_operation=WithStartWorkflowOperation(
            CatalogWorkflow.run,
            CatalogState(),
            id=catalog_workflow_id(engine.task_queue),
            task_queue=engine.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        ),
    )
    profile = {"email": "budget@example.com"}
    histories: dict[str, str] = {}
    for contact, second in (("budget", None), ("budget-goal", "goal")):
        first = await engine.enroll(
            automation("first"), contact, automation_id="first", contact=profile
        )
        await engine.result(first.enrollment_id)
        if second is None:
            skipped = await engine.enroll(
                automation("skip", when_capped="skip"), contact, automation_id="skip"
            )
            await engine.result(skipped.enrollment_id)
            deferred = await engine.enroll(automation("defer"), contact, automation_id="defer")
            await _waiting(engine, deferred.enrollment_id)
            await engine.result(deferred.enrollment_id)
            histories["enrollment_budget_skip"] = await _history(engine, skipped.enrollment_id)
            histories["enrollment_budget_defer"] = await _history(engine, deferred.enrollment_id)
        else:
            moved = await engine.enroll(
                automation("goal", {"id": "g", "type": "goal", "any_of": BUY}),
                contact,
                automation_id="goal",
            )
            await _waiting(engine, moved.enrollment_id)
            await engine.send(contact, "custom", {"name": "buy"}, id="budget-goal-buy")
            await engine.result(moved.enrollment_id)
            histories["enrollment_budget_goal"] = await _history(engine, moved.enrollment_id)
        histories[f"contact_{contact.replace('-', '_')}"] = await _history(
            engine, contact_workflow_id(contact)
        )
    return histories


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    with tempfile.TemporaryDirectory() as outbox:
        sink = SmtpSink(Path(outbox), "127.0.0.1", free_port())
        sink.start()
        settings = Settings.model_validate(
            {"GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "GOALFLOW_DATA_DIR": outbox}
        )
        try:
            async with env, running_engine(env, settings=settings) as engine:
                for file, history in (await _record(engine)).items():
                    path = HERE / f"{file}.json"
                    path.write_text(json.dumps(json.loads(history), indent=1) + "\n")
                    print("wrote", path.relative_to(HERE.parent.parent))
        finally:
            sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
