"""Dry run: a definition replayed over what really happened (docs/api.md, "Dry runs").

A durable job, like a bulk job: `DryRunWorkflow` walks the contacts page by page, one
`dry_run_page` activity per page (activities/dry_run.py: it lists a page of contact workflows,
reads each one's kept events and runs them through the simulator), and adds up the tallies. The
job holds only the tally and the page token, so memory stays bounded however many contacts there
are; `view` answers its progress. No side effect: the activity only reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.definition import Automation
    from workflows.dry_run_contact import DryRunTally

DRY_RUN_PAGE = "dry_run_page"
DRY_RUN_PREFIX = "dry-run:"
PAGE_SIZE = 100
PAGE_RETRY = RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=30))

DryRunStatus = Literal["running", "completed", "failed"]


def dry_run_workflow_id(dry_run_id: str) -> str:
    return f"{DRY_RUN_PREFIX}{dry_run_id}"


class DryRunJob(BaseModel):
    dry_run_id: str
    automation_id: str
    version: int
    definition: Automation
    # The window: events accepted from `since` up to `now` (both fixed when the job starts).
    since: datetime
    now: datetime
    task_queue: str
    page_size: int = PAGE_SIZE


class DryRunPageRequest(BaseModel):
    job: DryRunJob
    # Visibility's page token, base64.
    page_token: str | None = None


class DryRunPage(BaseModel):
    tally: DryRunTally
    next_page_token: str | None = None
    # Contacts the listing counts in all (asked with the first page), for `progress`.
    total: int | None = None


class DryRunView(BaseModel):
    dry_run_id: str
    automation_id: str
    version: int
    status: DryRunStatus
    tally: DryRunTally
    total: int = 0
    error: str | None = None
    steps: list[str] = Field(default_factory=list)
    goals: list[str] = Field(default_factory=list)


@workflow.defn
class DryRunWorkflow:
    @workflow.init
    def __init__(self, job: DryRunJob) -> None:
        self.job = job
        self.tally = DryRunTally()
        self.total = 0
        self.status: DryRunStatus = "running"
        self.error: str | None = None

    @workflow.run
    async def run(self, job: DryRunJob) -> DryRunView:
        token: str | None = None
        first = True
        while first or token:
            try:
                page: DryRunPage = await workflow.execute_activity(
                    DRY_RUN_PAGE,
                    DryRunPageRequest(job=job, page_token=token),
                    result_type=DryRunPage,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=PAGE_RETRY,
                    summary="dry run page",
                )
            except ActivityError as err:
                self.status, self.error = "failed", str(err.cause or err)
                return self.view()
            if page.total is not None:
                self.total = page.total
            self.tally.add(page.tally)
            token, first = page.next_page_token, False
        self.status = "completed"
        return self.view()

    @workflow.query
    def view(self) -> DryRunView:
        return DryRunView(
            dry_run_id=self.job.dry_run_id,
            automation_id=self.job.automation_id,
            version=self.job.version,
            status=self.status,
            tally=self.tally,
            total=self.total,
            error=self.error,
            steps=[step.id for step in self.job.definition.steps],
            goals=[step.id for step in self.job.definition.steps if step.type == "goal"],
        )
