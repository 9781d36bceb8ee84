"""Side effects on contacts: a bulk job's batch, enrolled through the contact workflows.

Each row goes through its contact workflow's `enroll` update-with-start, exactly as the API
enrolls one contact, with a request id (job + row) that the contact workflow answers idempotently.
Progress is heartbeated, so a retry after a crash skips the rows already reported.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from goalflow.core.profiles import ProfileDirectory
from workflows.automation import AutomationWorkflow
from workflows.bulk import (
    ENROLL_BATCH,
    BatchOutcome,
    BulkChunkWorkflow,
    BulkRow,
    EnrollBatchRequest,
    RowsRequest,
)
from workflows.contact import ContactWorkflowV2, contact_start
from workflows.definition import Automation
from workflows.limits import PROFILE_TOO_LARGE, TOO_MANY_ENROLLMENTS
from workflows.messages import (
    REENTRY_REFUSED,
    AutomationLifecycle,
    AutomationVersion,
    EnrollRequest,
    VersionRequest,
    automation_workflow_id,
)

log = structlog.get_logger("goalflow.bulk")

REENTRY_REASON = (
    "re-entry refused: the contact was enrolled before and re-entry is not allowed "
    "(settings.allow_reentry)"
)
PAUSED_REASON = "the automation is paused: it enrolls nobody until it is resumed ({resume})"
TOO_LARGE_REASON = (
    "the contact's profile would pass its limits (256 KiB of JSON, 500 tags): send fewer or "
    "shorter fields"
)


class ContactActivities:
    def __init__(
        self,
        client: Client,
        *,
        search_attributes: bool = True,
        secret: str | None = None,
        report_outcomes: bool = False,
    ) -> None:
        self.client = client
        # GOALFLOW_REPORTING_WEBHOOK_URL is set: bulk enrollments report their outcomes too.
        self.report_outcomes = report_outcomes
        self.search_attributes = search_attributes
        # With the secret, each row's email and phone go into the profiles' directory, as for an
        # enrollment through the API (goalflow.core.profiles).
        self.secret = secret
        # Published versions never change, so a definition fetched once serves every batch.
        self.definitions: dict[tuple[str, int], Automation] = {}
        self.states: dict[str, tuple[float, AutomationLifecycle]] = {}

    @activity.defn(name=ENROLL_BATCH)
    async def enroll_batch(self, request: EnrollBatchRequest) -> BatchOutcome:
        info = activity.info()
        outcome = (
            BatchOutcome.model_validate(info.heartbeat_details[0])
            if info.heartbeat_details
            else BatchOutcome()
        )
        rows: list[BulkRow] = await self.client.get_workflow_handle(
            request.chunk_workflow_id
        ).query(BulkChunkWorkflow.rows, RowsRequest(offset=request.offset, limit=request.limit))
        automation, state = await self._definition(request.automation_id, request.version)
        done = set(outcome.done)
        todo = [(position, row) for position, row in enumerate(rows) if position not in done]
        if state == "paused":
            # R17, checked per batch: a job on an automation paused midway stops enrolling.
            resume = f"POST /v1/automations/{request.automation_id}/resume"
            reason = PAUSED_REASON.format(resume=resume)
            outcome.refused.setdefault(reason, []).extend(row.index for _, row in todo)
            outcome.done = []
            return outcome
        slots = asyncio.Semaphore(request.concurrency)
        counter = activity.metric_meter().create_counter(
            "goalflow_bulk_enrollments", "rows of bulk jobs enrolled, by result"
        )

        async def enroll(position: int, row: BulkRow) -> None:
            async with slots:
                result = await self._enroll(request, automation, row, info.task_queue)
            if isinstance(result, str):
                outcome.refused.setdefault(result, []).append(row.index)
            elif result:
                outcome.created += 1
            else:
                outcome.existing += 1
            outcome.done.append(position)
            label = "refused" if isinstance(result, str) else "created" if result else "existing"
            counter.add(1, {"result": label})
            activity.heartbeat(outcome)

        async with asyncio.TaskGroup() as group:
            for position, row in todo:
                group.create_task(enroll(position, row))
        log.info(
            "bulk batch enrolled",
            job_id=request.job_id,
            automation_id=request.automation_id,
            offset=request.offset,
            rows=len(rows),
            created=outcome.created,
            existing=outcome.existing,
            refused=sum(len(i) for i in outcome.refused.values()),
            attempt=info.attempt,
        )
        outcome.done = []
        return outcome

    async def _enroll(
        self, request: EnrollBatchRequest, automation: Automation, row: BulkRow, task_queue: str
    ) -> bool | str:
        """True: enrolled now; False: already active; a string: why it was refused."""
        contact_id = row.contact.id
        try:
            result = await self.client.execute_update_with_start_workflow(
                ContactWorkflowV2.enroll,
                EnrollRequest(
                    automation_id=request.automation_id,
                    version=request.version,
                    automation=automation,
                    contact=row.contact,
                    search_attributes=self.search_attributes,
                    request_id=f"{request.job_id}:{row.index}",
                    report_outcomes=self.report_outcomes,
                ),
                start_workflow_operation=contact_start(contact_id, task_queue),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REENTRY_REFUSED:
                return REENTRY_REASON
            if isinstance(cause, ApplicationError) and cause.type == PROFILE_TOO_LARGE:
                return TOO_LARGE_REASON
            if isinstance(cause, ApplicationError) and cause.type == TOO_MANY_ENROLLMENTS:
                return cause.message
            raise
        if self.secret and (row.contact.email or row.contact.phone):
            await ProfileDirectory(self.client, task_queue, self.secret).remember(
                contact_id, email=row.contact.email, phone=row.contact.phone
            )
        return bool(result.created)

    async def _definition(
        self, automation_id: str, version: int
    ) -> tuple[Automation, AutomationLifecycle]:
        """The version's definition and the automation's state, asked at most once a second
        per automation (R17 within the same bound as triggers)."""
        key = (automation_id, version)
        known = self.states.get(automation_id)
        if key in self.definitions and known is not None and time.monotonic() - known[0] < 1.0:
            return self.definitions[key], known[1]
        handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
        found: AutomationVersion = await handle.query(
            AutomationWorkflow.get, VersionRequest(version=version)
        )
        # Published versions never change: keep one copy of each definition.
        self.definitions.setdefault(key, found.definition)
        self.states[automation_id] = (time.monotonic(), found.state)
        return self.definitions[key], found.state
