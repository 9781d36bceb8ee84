"""Record histories of enrollments moved to another version (R19) and of a migration job,
replayed by tests/unit/test_replay.py like the enrollment histories of record.py.

    python -m tests.histories.record_migration

On the dev server (a moved enrollment writes its search attributes as it continues as new).
Files: `enrollment_migrated_wait_v2` (moved while waiting) and `enrollment_migrated_wait_after_v2`
(its next run, on the new version, cancelled once waiting), `enrollment_migrated_action_v2`
(moved right after an action in flight), `enrollment_migrated_out_v2` (ended, unmapped), and
`migration_job` (a job over a few enrollments, continuing as new between pages).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.binaries import temporal_cli
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, assert_eventually
from worker import activity_functions, build_worker
from workflows.messages import SEND_WEBHOOK, WebhookRequest, WebhookResult
from workflows.migration import UPDATE_MIGRATE, MoveRequest, MoveResult, Unmapped, full_step_map
from workflows.migration_job import (
    MigrationJobInput,
    MigrationJobWorkflow,
    MigrationView,
    migration_workflow_id,
    running_on_version,
)
from workflows.search_attributes import SEARCH_ATTRIBUTES

HERE = Path(__file__).parent

HOOK = {"id": "hook", "type": "webhook", "url": "https://example.com/hook"}
V1: dict[str, Any] = {
    "name": "moved",
    "steps": [HOOK, {"id": "w", "type": "wait", "duration": "P1D"}, {"id": "t", "type": "end"}],
}
V2: dict[str, Any] = {
    "name": "moved, fixed",
    "steps": [
        HOOK,
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "new", "type": "add_tag", "tag": "new"},
    ],
}
# Unmapped from `w`: for the `end` scenario.
V3: dict[str, Any] = {
    "name": "elsewhere",
    "steps": [{"id": "v", "type": "wait", "duration": "P2D"}],
}


class Gate:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, request: WebhookRequest) -> WebhookResult:
        self.started.set()
        await self.open.wait()
        return WebhookResult(status_code=200, webhook_id="w")


def move(old: dict[str, Any], new: dict[str, Any], unmapped: Unmapped = "stay") -> MoveRequest:
    old_definition, _ = parse_automation(old)
    new_definition, _ = parse_automation(new)
    return MoveRequest(
        migration_id=uuid.uuid4().hex,
        from_version=1,
        to_version=2,
        automation=new_definition,
        step_map=full_step_map(old_definition, new_definition, {}),
        unmapped=unmapped,
    )


async def history_of(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return history.to_json()


async def record(env: WorkflowEnvironment, engine: WorkflowDriver, gate: Gate) -> dict[str, str]:
    client = env.client
    histories: dict[str, str] = {}
    gate.open.set()  # webhooks answer at once, until the action scenario

    # Moved while waiting at an unchanged wait: keeps its deadline.
    waiting = await engine.enroll(V1, "replay-migrated-wait", automation_id="migrated")
    await engine.until(waiting.enrollment_id, lambda v: v.waiting is not None)
    first_run = (await client.get_workflow_handle(waiting.enrollment_id).describe()).run_id
    handle = client.get_workflow_handle(waiting.enrollment_id)
    await handle.execute_update(UPDATE_MIGRATE, move(V1, V2), result_type=MoveResult)
    await engine.until(waiting.enrollment_id, lambda v: v.version == 2 and v.waiting is not None)
    histories["enrollment_migrated_wait_v2"] = await history_of(
        client, waiting.enrollment_id, first_run
    )
    await handle.cancel()
    await assert_eventually(handle.describe, lambda d: d.close_time is not None)
    histories["enrollment_migrated_wait_after_v2"] = await history_of(client, waiting.enrollment_id)

    # Moved right after an action in flight.
    gate.open.clear()
    gate.started.clear()
    acting = await engine.enroll(V1, "replay-migrated-action", automation_id="migrated")
    await gate.started.wait()
    first_run = (await client.get_workflow_handle(acting.enrollment_id).describe()).run_id
    handle = client.get_workflow_handle(acting.enrollment_id)
    moving = asyncio.create_task(
        handle.execute_update(UPDATE_MIGRATE, move(V1, V2), result_type=MoveResult)
    )
    await asyncio.sleep(0.5)  # recording only: let the update be accepted before the action ends
    gate.open.set()
    await moving
    await engine.until(acting.enrollment_id, lambda v: v.version == 2)
    histories["enrollment_migrated_action_v2"] = await history_of(
        client, acting.enrollment_id, first_run
    )
    await handle.cancel()

    # Unmapped, `unmapped: end`.
    ending = await engine.enroll(V1, "replay-migrated-out", automation_id="migrated")
    await engine.until(ending.enrollment_id, lambda v: v.waiting is not None)
    handle = client.get_workflow_handle(ending.enrollment_id)
    await handle.execute_update(UPDATE_MIGRATE, move(V1, V3, "end"), result_type=MoveResult)
    await engine.result(ending.enrollment_id)
    histories["enrollment_migrated_out_v2"] = await history_of(client, ending.enrollment_id)

    # A job over a few enrollments, a page of 2 per run.
    for n in range(4):
        enrolled = await engine.enroll(V1, f"replay-migration-job-{n}", automation_id="job")
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    await assert_eventually(
        lambda: client.count_workflows(running_on_version("job", 1)), lambda c: c.count == 4
    )
    job = MigrationJobInput(
        automation_id="job",
        move=move(V1, V2),
        batch_size=1,
        concurrency=2,
        page_size=2,
        continue_as_new_after_pages=1,
    )
    job_handle = await client.start_workflow(
        MigrationJobWorkflow.run,
        job,
        id=migration_workflow_id(job.move.migration_id),
        task_queue=engine.task_queue,
    )
    final = await client.get_workflow_handle(job_handle.id, result_type=MigrationView).result()
    assert final.moved == 4, final
    # Its first run: two batches, then continue-as-new.
    histories["migration_job"] = await history_of(
        client, job_handle.id, job_handle.first_execution_run_id
    )
    return histories


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
    task_queue = f"record-{uuid.uuid4()}"
    settings = Settings.model_validate({"GOALFLOW_TASK_QUEUE": task_queue})
    gate = Gate()
    async with env, httpx.AsyncClient() as http:
        fakes = [fn for fn in activity_functions(settings, http) if fn.__name__ != "send_webhook"]
        async with build_worker(env.client, settings, http, activities=[*fakes, gate.send_webhook]):
            histories = await record(
                env, WorkflowDriver(env, task_queue, search_attributes=True), gate
            )
    for name, history in histories.items():
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(json.loads(history), indent=1) + "\n")
        print("wrote", path.relative_to(HERE.parent.parent))


if __name__ == "__main__":
    asyncio.run(main())
