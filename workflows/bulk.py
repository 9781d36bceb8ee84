"""Bulk enrollment: a durable job that enrolls up to 100,000 contacts in batches.

Where the contacts live. One payload must stay well under Temporal's 2 MB limit and one history
under its size limits, so the contacts never travel in the job's own input or history. The API
validates the rows and stores the valid ones in *chunk holders*: small `BulkChunkWorkflow`s, one
per ≤ 2,000 rows and ≤ 1 MB, whose input is their chunk. They answer a query for a slice of their
rows and complete when the job releases them. The job (`BulkEnrollWorkflow`) holds only ids,
counts and the indices of rejected rows.

How the job runs. It walks a deterministic plan of batches (a slice of one chunk each); every batch
is one `enroll_batch` activity, which reads its rows from the chunk holder and enrolls them through
the contact workflows (update-with-start, like the API). A few batches run at once. Each result is
recorded in the job's state before it counts, so a crash (worker, server) resumes at the first
batch not recorded; an activity that dies mid-batch is retried and skips the rows its heartbeats
recorded. Each enrollment carries a request id (job + row), which the contact workflow answers
idempotently: a row enrolled by an attempt that died before reporting it is counted once, as
created, and never enrolled twice. The job continues as new when Temporal suggests it.

Stopping a job. The `request_cancel` signal stops it between batches: no new batch starts, the
batches in flight finish and are counted, the holders are released, and the job completes with
status `cancelled` and the counts of what was done. (Cancelling the workflow through Temporal
still works too, but cuts the batches in flight.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.messages import ContactProfile
    from workflows.patches import BULK_CANCEL_BETWEEN_BATCHES

# Activity name.
ENROLL_BATCH = "enroll_batch"

JOB_PREFIX = "bulk:"
# Chunk holders keep their rows this long at most (a job finishes long before).
CHUNK_HOLD = timedelta(days=7)

# "cancelling": a cancel was asked for; the batches in flight are finishing.
JobStatus = Literal["running", "cancelling", "completed", "failed", "cancelled"]

BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)


def job_workflow_id(job_id: str) -> str:
    return f"{JOB_PREFIX}{job_id}"


def chunk_workflow_id(job_id: str, chunk: int) -> str:
    return f"{JOB_PREFIX}{job_id}:chunk:{chunk}"


# --- messages --------------------------------------------------------------------------------


class BulkRow(BaseModel):
    """A valid row: its position in the submitted list and the contact."""

    index: int
    contact: ContactProfile


class BulkChunk(BaseModel):
    """Input of a chunk holder."""

    job_id: str
    chunk: int
    rows: list[BulkRow]


class RowsRequest(BaseModel):
    offset: int
    limit: int


class BulkProgress(BaseModel):
    """What the job has recorded so far; carried across continue-as-new."""

    done_batches: list[int] = Field(default_factory=list)
    done_rows: int = 0
    created: int = 0
    existing: int = 0
    # Rows refused while enrolling (re-entry): reason -> row indices.
    refused: dict[str, list[int]] = Field(default_factory=dict)
    status: JobStatus = "running"
    error: str | None = None


class BulkJob(BaseModel):
    """Input of the job, and its whole state (continue-as-new passes it on)."""

    job_id: str
    automation_id: str
    version: int
    # Rows submitted, valid or not.
    total: int
    # Valid rows held by each chunk holder, in order.
    chunk_sizes: list[int]
    # Rows the API found invalid: reason -> row indices (grouped: reasons repeat).
    invalid: dict[str, list[int]] = Field(default_factory=dict)
    batch_size: int = 100
    parallel_batches: int = 2
    # Enroll calls in flight per batch.
    concurrency: int = 16
    # A batch whose worker died is retried after this long without a heartbeat.
    heartbeat_timeout_seconds: float = 15.0
    progress: BulkProgress = Field(default_factory=BulkProgress)
    # Tests force continue-as-new sooner than Temporal would suggest it.
    continue_as_new_after_batches: int | None = None


class EnrollBatchRequest(BaseModel):
    job_id: str
    automation_id: str
    version: int
    chunk_workflow_id: str
    offset: int
    limit: int
    concurrency: int


class BatchOutcome(BaseModel):
    created: int = 0
    existing: int = 0
    refused: dict[str, list[int]] = Field(default_factory=dict)
    # Positions (within the batch) already done: what a heartbeat carries to a retry.
    done: list[int] = Field(default_factory=list)


class BulkJobView(BaseModel):
    job_id: str
    automation_id: str
    version: int
    status: JobStatus
    total: int
    done: int
    created: int
    existing: int
    # reason -> row indices, invalid and refused rows together.
    rejected: dict[str, list[int]]
    error: str | None = None


def plan_batches(chunk_sizes: list[int], batch_size: int) -> list[tuple[int, int, int]]:
    """(chunk, offset, limit) of every batch, in order."""
    return [
        (chunk, offset, min(batch_size, size - offset))
        for chunk, size in enumerate(chunk_sizes)
        for offset in range(0, size, batch_size)
    ]


def merge_rejected(*groups: dict[str, list[int]]) -> dict[str, list[int]]:
    merged: dict[str, list[int]] = {}
    for group in groups:
        for reason, indices in group.items():
            merged.setdefault(reason, []).extend(indices)
    return merged


# --- workflows -------------------------------------------------------------------------------


@workflow.defn
class BulkChunkWorkflow:
    """Holds one chunk of a job's rows until the job releases it."""

    @workflow.init
    def __init__(self, chunk: BulkChunk) -> None:
        self.chunk = chunk
        self.released = False

    @workflow.run
    async def run(self, chunk: BulkChunk) -> None:
        try:
            await workflow.wait_condition(
                lambda: self.released, timeout=CHUNK_HOLD, timeout_summary="held for the job"
            )
        except TimeoutError:
            workflow.logger.warning("chunk never released", extra={"job_id": chunk.job_id})

    @workflow.query
    def rows(self, request: RowsRequest) -> list[BulkRow]:
        return self.chunk.rows[request.offset : request.offset + request.limit]

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class BulkEnrollWorkflow:
    @workflow.init
    def __init__(self, job: BulkJob) -> None:
        self.job = job
        self.progress = job.progress
        self.batches = plan_batches(job.chunk_sizes, job.batch_size)
        self.done = set(self.progress.done_batches)
        self.invalid_count = sum(len(indices) for indices in job.invalid.values())
        self.running = 0
        self.started_in_run = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancel_requested = False

    @workflow.run
    async def run(self, job: BulkJob) -> BulkJobView:
        self._show_progress()
        try:
            for number in range(len(self.batches)):
                if number in self.done:
                    continue
                await workflow.wait_condition(
                    lambda: (
                        self.running < job.parallel_batches
                        or self.progress.error is not None
                        or self.cancel_requested
                    )
                )
                if (
                    self.progress.error is not None
                    or self._stopping()
                    or self._should_continue_as_new()
                ):
                    break
                self.running += 1
                self.started_in_run += 1
                task = asyncio.create_task(self._run_batch(number))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            await workflow.wait_condition(lambda: self.running == 0)
        except asyncio.CancelledError:
            for task in self.tasks:
                task.cancel()
            self.progress.status = "cancelled"
            await self._release_chunks()
            return self.view()
        if self.progress.error is not None:
            self.progress.status = "failed"
        elif len(self.done) < len(self.batches) and self._stopping():
            self.progress.status = "cancelled"
        elif len(self.done) < len(self.batches):
            self.progress.done_batches = sorted(self.done)
            workflow.continue_as_new(self.job)
        else:
            self.progress.status = "completed"
        await self._release_chunks()
        self._show_progress()
        workflow.logger.info(
            "bulk job %s",
            self.progress.status,
            extra={"job_id": job.job_id, "automation_id": job.automation_id},
        )
        return self.view()

    @workflow.signal
    def request_cancel(self) -> None:
        """Stop between batches: the batches in flight finish and count, no other starts."""
        self.cancel_requested = True

    def _stopping(self) -> bool:
        # Jobs that never receive the signal issue the same commands as before it existed.
        return self.cancel_requested and workflow.patched(BULK_CANCEL_BETWEEN_BATCHES)

    @workflow.query
    def view(self) -> BulkJobView:
        job, progress = self.job, self.progress
        status = progress.status
        if status == "running" and self.cancel_requested:
            status = "cancelling"
        return BulkJobView(
            job_id=job.job_id,
            automation_id=job.automation_id,
            version=job.version,
            status=status,
            total=job.total,
            done=self.invalid_count + progress.done_rows,
            created=progress.created,
            existing=progress.existing,
            rejected=merge_rejected(job.invalid, progress.refused),
            error=progress.error,
        )

    async def _run_batch(self, number: int) -> None:
        job = self.job
        chunk, offset, limit = self.batches[number]
        try:
            outcome: BatchOutcome = await workflow.execute_activity(
                ENROLL_BATCH,
                EnrollBatchRequest(
                    job_id=job.job_id,
                    automation_id=job.automation_id,
                    version=job.version,
                    chunk_workflow_id=chunk_workflow_id(job.job_id, chunk),
                    offset=offset,
                    limit=limit,
                    concurrency=job.concurrency,
                ),
                result_type=BatchOutcome,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=job.heartbeat_timeout_seconds),
                retry_policy=BATCH_RETRY,
                summary=f"batch {number + 1}/{len(self.batches)}",
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            self.progress.error = f"batch {number + 1}: {message}"
        else:
            self.done.add(number)
            self.progress.done_batches.append(number)
            self.progress.done_rows += limit
            self.progress.created += outcome.created
            self.progress.existing += outcome.existing
            for reason, indices in outcome.refused.items():
                self.progress.refused.setdefault(reason, []).extend(indices)
            self._show_progress()
        finally:
            self.running -= 1

    async def _release_chunks(self) -> None:
        await asyncio.gather(
            *(
                workflow.get_external_workflow_handle(chunk_workflow_id(self.job.job_id, c)).signal(
                    BulkChunkWorkflow.release
                )
                for c in range(len(self.job.chunk_sizes))
            ),
            return_exceptions=True,  # a holder that already timed out needs nothing
        )

    def _show_progress(self) -> None:
        progress = self.progress
        rejected = self.invalid_count + sum(len(i) for i in progress.refused.values())
        workflow.set_current_details(
            f"{progress.status} · {self.invalid_count + progress.done_rows}/{self.job.total} "
            f"rows · created {progress.created} · existing {progress.existing} · "
            f"rejected {rejected}"
        )

    def _should_continue_as_new(self) -> bool:
        limit = self.job.continue_as_new_after_batches
        if limit is not None and self.started_in_run >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()
