"""A request to a contact whose workflow no running worker serves answers 503 with Retry-After
after the API's bounded wait (GOALFLOW_ANSWER_WAIT_SECONDS), instead of holding the caller for
as long as its client waits; the same request is applied once a worker serves the queue."""

from __future__ import annotations

import time
import uuid

import httpx
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from worker import build_worker
from workflows.messages import ContactView, contact_workflow_id

WAIT = 1.0


async def test_a_contact_no_worker_serves_answers_503_after_the_wait(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"no-worker-{uuid.uuid4()}"
    app = create_app(
        Settings.model_validate({"GOALFLOW_ANSWER_WAIT_SECONDS": WAIT}), dev_env.client
    )
    app.state.goalflow = GoalflowService(dev_env.client, queue, answer_wait=WAIT)
    contact = new_id()
    event = {"contact_id": contact, "type": "custom", "id": "e-1", "data": {"name": "x"}}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as http:
        started = time.monotonic()
        answer = await http.post("/v1/events", json=event)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert "no worker answered the event within 1 s" in answer.json()["detail"]
        # Bounded by the wait, not by the client's 30 s (the machine's load only adds to 1 s).
        assert time.monotonic() - started < 25
        tags = await http.post(f"/v1/contacts/{contact}/tags", json={"add": ["vip"]})
        assert tags.status_code == 503, tags.text

    # A worker comes for the queue: the updates that waited are applied, and a retry with the
    # same id is a duplicate, applied once.
    async with (
        httpx.AsyncClient() as worker_http,
        build_worker(dev_env.client, Settings(), worker_http, task_queue=queue),
    ):
        handle = dev_env.client.get_workflow_handle(contact_workflow_id(contact))

        async def view() -> ContactView:
            found: ContactView = await handle.query("view", result_type=ContactView)
            return found

        await assert_eventually(view, lambda v: "vip" in v.tags)
        retried = await GoalflowService(dev_env.client, queue).send_event(
            contact, "custom", {"name": "x"}, event_id="e-1"
        )
        assert retried.duplicate is True
