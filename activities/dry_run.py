"""The dry run's activity: one page of contacts, each one's kept events through the simulator.

Reads only: the contact workflows are listed through visibility and asked two queries (their
profile and the events they keep); nothing is sent, nothing is written.
"""

from __future__ import annotations

import base64

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from goalflow.core.slow_worker import raise_if_worker_too_slow
from workflows.contact import ContactWorkflowV2
from workflows.dry_run import DRY_RUN_PAGE, DryRunJob, DryRunPage, DryRunPageRequest
from workflows.dry_run_contact import DryRunTally, dry_run_contact
from workflows.events import ContactEvent
from workflows.messages import CONTACT_PREFIX, ContactSnapshot, ContactView


def contacts_query(job: DryRunJob) -> str:
    """Contact runs that may hold events of the window: running, or closed within it (a contact
    with nothing to keep completes when idle). A run that continued as new handed its events on."""
    since = job.since.isoformat()
    return (
        "WorkflowType IN ('ContactWorkflowV2', 'ContactWorkflow') "
        f"AND TaskQueue = '{job.task_queue}' "
        f"AND (ExecutionStatus = 'Running' OR CloseTime >= '{since}') "
        "AND ExecutionStatus != 'ContinuedAsNew'"
    )


class DryRunActivities:
    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name=DRY_RUN_PAGE)
    async def dry_run_page(self, request: DryRunPageRequest) -> DryRunPage:
        job = request.job
        query = contacts_query(job)
        total = None
        if request.page_token is None:
            total = (await self.client.count_workflows(query)).count
        token = base64.b64decode(request.page_token) if request.page_token else None
        listing = self.client.list_workflows(query, page_size=job.page_size, next_page_token=token)
        await listing.fetch_next_page()
        tally = DryRunTally()
        for execution in listing.current_page or []:
            activity.heartbeat()
            contact_id = execution.id.removeprefix(CONTACT_PREFIX)
            handle = self.client.get_workflow_handle(execution.id, run_id=execution.run_id)
            try:
                view: ContactView = await handle.query(ContactWorkflowV2.view)
                events: list[ContactEvent] = await handle.query(ContactWorkflowV2.kept_events)
            except (RPCError, WorkflowQueryFailedError) as err:
                raise_if_worker_too_slow(err)  # the activity's retry asks again
                tally.contacts_listed += 1  # gone, or run by a worker without the query
                continue
            profile = view.model_dump(include={"email", "phone", "first_name", "last_name",
                                               "tags", "fields", "unsubscribed",
                                               "sms_unsubscribed"})  # fmt: skip
            tally.add(
                dry_run_contact(
                    automation_id=job.automation_id,
                    version=job.version,
                    automation=job.definition,
                    contact=ContactSnapshot(id=contact_id, **profile),
                    events=events,
                    since=job.since,
                    now=job.now,
                )
            )
        following = listing.next_page_token
        return DryRunPage(
            tally=tally,
            next_page_token=base64.b64encode(following).decode() if following else None,
            total=total,
        )
