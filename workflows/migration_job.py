"""The migration job: moves every running enrollment of one version to another (R19).

It walks the running enrollments of the version as visibility lists them, one page at a time
(`list_migration_page`): a moved or ended enrollment leaves the list and the page token (a
position in the list's order, not an offset) goes on past the ones that stay. Each page is cut
into batches; a few batches run at once, each one `move_enrollments` activity that sends every
enrollment of the batch its `migrate` update. An enrollment answers a move it has already made
with the same answer, so a batch retried after a worker crash counts each enrollment once. The
counts live in the job's state: a crash resumes at the first batch not recorded. The job
continues as new between pages. The `request_cancel` signal stops it between batches.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.migration import MoveRequest, MoveResult
    from workflows.search_attributes import AUTOMATION_ID, VERSION

LIST_MIGRATION_PAGE = "list_migration_page"
MOVE_ENROLLMENTS = "move_enrollments"
MIGRATION_PREFIX = "migration:"
# The skipped enrollments a job lists; past this it counts them in `done` only.
MAX_SKIPPED = 1000

MigrationStatus = Literal["running", "completed", "failed", "cancelled"]

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)


ENROLLMENT_TYPES = "WorkflowType IN ('EnrollmentWorkflowV2', 'EnrollmentWorkflow')"


def running_on_version(automation_id: str, version: int) -> str:
    """The visibility query of the enrollments running on one version of an automation."""
    quoted = "'" + automation_id.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return (
        f"{ENROLLMENT_TYPES} AND ExecutionStatus = 'Running' AND {AUTOMATION_ID.name} = {quoted}"
        f" AND {VERSION.name} = {int(version)}"
    )


def migration_workflow_id(migration_id: str) -> str:
    return f"{MIGRATION_PREFIX}{migration_id}"


class Skipped(BaseModel):
    enrollment_id: str
    reason: str


class MigrationCounts(BaseModel):
    total: int = 0
    done: int = 0
    moved: int = 0
    stayed: int = 0
    ended: int = 0
    skipped: list[Skipped] = Field(default_factory=list)


class MigrationJobInput(BaseModel):
    automation_id: str
    move: MoveRequest
    batch_size: int = 50
    concurrency: int = 4
    page_size: int = 500
    heartbeat_timeout_seconds: float = 15.0
    # Carried across continue-as-new.
    counts: MigrationCounts = Field(default_factory=MigrationCounts)
    page_token: str | None = None
    # Tests make the job continue as new sooner than Temporal would suggest it.
    continue_as_new_after_pages: int | None = None


class MigrationView(BaseModel):
    migration_id: str
    automation_id: str
    from_version: int
    to_version: int
    status: MigrationStatus
    total: int
    done: int
    moved: int
    stayed: int
    ended: int
    skipped: list[Skipped]
    error: str | None = None


class MigrationPageRequest(BaseModel):
    automation_id: str
    from_version: int
    page_size: int
    page_token: str | None = None  # base64 of visibility's token


class MigrationPage(BaseModel):
    enrollment_ids: list[str]
    next_page_token: str | None = None


class MoveBatch(BaseModel):
    enrollment_ids: list[str]
    move: MoveRequest


class EnrollmentMoved(BaseModel):
    enrollment_id: str
    result: MoveResult


class MovedBatch(BaseModel):
    results: list[EnrollmentMoved] = Field(default_factory=list)


@workflow.defn
class MigrationJobWorkflow:
    @workflow.init
    def __init__(self, job: MigrationJobInput) -> None:
        self.job = job
        self.status: MigrationStatus = "running"
        self.error: str | None = None
        self.cancel_requested = False

    @workflow.run
    async def run(self, job: MigrationJobInput) -> MigrationView:
        pages = 0
        try:
            while not self.cancel_requested:
                page = await self._list_page()
                await self._move_page(page)
                job.page_token = page.next_page_token
                pages += 1
                if job.page_token is None or self.cancel_requested:
                    break
                if self._should_continue_as_new(pages):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(job)
        except ActivityError as err:
            self.status = "failed"
            self.error = str(err.cause or err)
            return self.view()
        counts = job.counts
        # The listing found what was running when it got there: enrollments that ended before
        # (and were listed in the plan) are not among them.
        counts.total = counts.done
        self.status = "cancelled" if self.cancel_requested else "completed"
        return self.view()

    @workflow.signal
    def request_cancel(self) -> None:
        """Stop between batches: the batches in flight finish and are counted."""
        self.cancel_requested = True

    @workflow.query
    def view(self) -> MigrationView:
        move, counts = self.job.move, self.job.counts
        return MigrationView(
            migration_id=move.migration_id,
            automation_id=self.job.automation_id,
            from_version=move.from_version,
            to_version=move.to_version,
            status=self.status,
            total=max(counts.total, counts.done),
            done=counts.done,
            moved=counts.moved,
            stayed=counts.stayed,
            ended=counts.ended,
            skipped=counts.skipped,
            error=self.error,
        )

    async def _list_page(self) -> MigrationPage:
        job = self.job
        page: MigrationPage = await workflow.execute_activity(
            LIST_MIGRATION_PAGE,
            MigrationPageRequest(
                automation_id=job.automation_id,
                from_version=job.move.from_version,
                page_size=job.page_size,
                page_token=job.page_token,
            ),
            result_type=MigrationPage,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
            summary="list the enrollments to move",
        )
        return page

    async def _move_page(self, page: MigrationPage) -> None:
        ids, size = page.enrollment_ids, self.job.batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        slots = asyncio.Semaphore(self.job.concurrency)

        async def move(batch: list[str]) -> None:
            async with slots:
                if self.cancel_requested:
                    return
                moved: MovedBatch = await workflow.execute_activity(
                    MOVE_ENROLLMENTS,
                    MoveBatch(enrollment_ids=batch, move=self.job.move),
                    result_type=MovedBatch,
                    start_to_close_timeout=timedelta(minutes=30),
                    heartbeat_timeout=timedelta(seconds=self.job.heartbeat_timeout_seconds),
                    retry_policy=RETRY,
                    summary=f"move {len(batch)} enrollments",
                )
                self._count(moved)

        await asyncio.gather(*(move(batch) for batch in batches))

    def _count(self, moved: MovedBatch) -> None:
        counts = self.job.counts
        for item in moved.results:
            counts.done += 1
            match item.result.outcome:
                case "moved":
                    counts.moved += 1
                case "stayed":
                    counts.stayed += 1
                case "ended":
                    counts.ended += 1
                case "skipped" if len(counts.skipped) < MAX_SKIPPED:
                    reason = item.result.reason or "skipped"
                    counts.skipped.append(Skipped(enrollment_id=item.enrollment_id, reason=reason))
        counts.total = max(counts.total, counts.done)

    def _should_continue_as_new(self, pages: int) -> bool:
        limit = self.job.continue_as_new_after_pages
        if limit is not None and pages >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()
