"""R13 when the end and the next enroll arrive together: an enroll update in the very workflow
task that carries the end of the contact's enrollment in that automation starts a new one
(re-entry allowed), rather than answering with the enrollment that has just ended.

Temporal hands the workflow a task's updates before its children's completions. The task is
made to carry both by stopping the worker, ending the enrollment (terminated) and sending the
update while no worker runs, then starting a worker on the same task queue.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, new_id
from worker import build_worker
from workflows.contact import ContactWorkflowV2
from workflows.messages import ContactProfile, EnrollRequest, contact_workflow_id

DEFINITION = {
    "name": "test",
    "settings": {"allow_reentry": True},
    "steps": [{"id": "w", "type": "wait", "duration": "P1D"}],
}


async def _admitted(client: Client, workflow_id: str, update_id: str) -> None:
    """Until the server holds the update (no worker has it yet)."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id
        ),
        identity="test",
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )
    for _ in range(600):
        try:
            await client.workflow_service.poll_workflow_execution_update(request)
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.05)
    raise AssertionError(f"update {update_id} never reached the server")


async def test_an_enroll_in_the_task_that_ends_the_enrollment_starts_a_new_one(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    task_queue = f"test-{uuid.uuid4()}"
    contact = new_id()
    automation_id = new_id("a")
    async with httpx.AsyncClient(timeout=10) as http:
        async with build_worker(client, Settings(), http, task_queue=task_queue):
            driver = WorkflowDriver(dev_env, task_queue, search_attributes=True)
            first = await driver.enroll(DEFINITION, contact, automation_id=automation_id)
            await driver.until(first.enrollment_id, lambda v: v.waiting is not None)

        # No worker: the end and the update wait for the same task.
        await client.get_workflow_handle(first.enrollment_id).terminate("ended meanwhile")
        contact_handle = client.get_workflow_handle(contact_workflow_id(contact))
        automation, _ = parse_automation(DEFINITION)
        request = EnrollRequest(
            automation_id=automation_id,
            version=1,
            automation=automation,
            contact=ContactProfile(id=contact),
            search_attributes=True,
        )
        update = asyncio.create_task(
            contact_handle.execute_update(ContactWorkflowV2.enroll, request, id="again")
        )
        await _admitted(client, contact_handle.id, "again")

        async with build_worker(client, Settings(), http, task_queue=task_queue):
            again = await update

    assert again.created, again
    assert again.enrollment_id != first.enrollment_id
    history = (await contact_handle.fetch_history()).events
    events = [e.event_type for e in history]
    ended = events.index(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED)
    accepted = next(
        i
        for i, e in enumerate(history)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.protocol_instance_id == "again"
    )
    # One task carried both (the case under test), and the timer it set was never sent.
    assert events[ended:accepted].count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert EventType.EVENT_TYPE_TIMER_STARTED not in events
