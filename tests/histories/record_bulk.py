"""Record the history of a bulk job stopped between batches (patch bulk-cancel-between-batches),
replayed by tests/unit/test_replay.py like the enrollment histories of record.py.

    python -m tests.histories.record_bulk

On the dev server (bulk batches enroll through update-with-start with search attributes, which
the time-skipping server does not register).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.binaries import temporal_cli
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from goalflow.service.bulk import BulkJobs
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually
from worker import build_worker
from workflows.bulk import BulkEnrollWorkflow, BulkJobView, job_workflow_id
from workflows.search_attributes import SEARCH_ATTRIBUTES

HERE = Path(__file__).parent

INSTANT = {"name": "bulk, instant", "steps": [{"id": "done", "type": "end"}]}


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
    task_queue = f"record-{uuid.uuid4()}"
    settings = Settings.model_validate({"GOALFLOW_TASK_QUEUE": task_queue})
    async with env, httpx.AsyncClient() as http, build_worker(env.client, settings, http):
        goalflow = GoalflowService(env.client, task_queue)
        automation, _ = parse_automation(INSTANT, set())
        await goalflow.publish("bulk-instant", automation)
        jobs = BulkJobs(goalflow, concurrency=1)
        contacts = [{"id": f"replay-bulk-{n}"} for n in range(40)] + [{"id": ""}]
        job_id = await jobs.submit("bulk-instant", contacts, batch_size=5, parallel_batches=1)
        await assert_eventually(lambda: jobs.view(job_id), lambda v: v.created >= 5)
        handle = env.client.get_workflow_handle(job_workflow_id(job_id), result_type=BulkJobView)
        await handle.signal(BulkEnrollWorkflow.request_cancel)
        view = await handle.result()
        assert view.status == "cancelled" and view.created < 40, view
        history = await handle.fetch_history()
    path = HERE / "bulk_cancel_between_batches.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print("wrote", path.relative_to(HERE.parent.parent), view.model_dump(exclude={"rejected"}))


if __name__ == "__main__":
    asyncio.run(main())
