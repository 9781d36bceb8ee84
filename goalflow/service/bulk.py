"""Bulk jobs, as the service layer runs them: validate rows, store them in chunk holders, start
the job, read its progress. The design (where the contacts live, why) is in `workflows/bulk.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from goalflow.service import metrics
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import Unavailable, is_missing, missing_as_not_found
from goalflow.service.events import chunked
from goalflow.service.inputs import ContactIn, validation_reason
from workflows.bulk import (
    BulkChunk,
    BulkChunkWorkflow,
    BulkEnrollWorkflow,
    BulkJob,
    BulkJobView,
    BulkRow,
    chunk_workflow_id,
    job_workflow_id,
)
from workflows.messages import ContactProfile

MAX_ROWS = 100_000
# A chunk holder's input stays far below Temporal's 2 MB payload limit.
CHUNK_ROWS = 2_000
CHUNK_BYTES = 1_000_000
# One contact must fit in an enroll update with room to spare.
MAX_ROW_BYTES = 256 * 1024
MAX_REASON = 300
DUPLICATE_REASON = "duplicate: the same contact id is in an earlier row of this job"
# Holders started at once.
START_CONCURRENCY = 8
# A running job's progress is a query, answered by a worker: do not hang when none is up.
QUERY_TIMEOUT = timedelta(seconds=5)
# How long POST /v1/jobs/{id}/cancel waits for the batches in flight before answering.
CANCEL_WAIT = timedelta(seconds=20)
# Memo key of a keyed job: the digest of the request that started it.
REQUEST_DIGEST = "request_digest"


def validate_rows(raw: list[Any]) -> tuple[list[tuple[BulkRow, int]], dict[str, list[int]]]:
    """Valid rows with their serialized size, and the invalid ones grouped by reason (so that
    100,000 bad rows stay a small payload)."""
    valid: list[tuple[BulkRow, int]] = []
    invalid: dict[str, list[int]] = {}
    seen: set[str] = set()
    for index, item in enumerate(raw):
        try:
            contact = ContactIn.model_validate(item)
        except ValidationError as err:
            invalid.setdefault(_reason(err), []).append(index)
            continue
        if contact.id in seen:
            # Which row's fields should win is unclear; a job enrolls each contact once.
            invalid.setdefault(DUPLICATE_REASON, []).append(index)
            continue
        seen.add(contact.id)
        row = BulkRow(index=index, contact=ContactProfile(**contact.model_dump()))
        size = len(row.model_dump_json())
        if size > MAX_ROW_BYTES:
            invalid.setdefault(f"contact larger than {MAX_ROW_BYTES} bytes", []).append(index)
            continue
        valid.append((row, size))
    return valid, invalid


def chunk_rows(rows: list[tuple[BulkRow, int]]) -> list[list[BulkRow]]:
    return chunked(rows, CHUNK_BYTES, CHUNK_ROWS)


def _reason(err: ValidationError) -> str:
    return validation_reason(err)[:MAX_REASON]


class JobUnavailable(Unavailable):
    """No worker answered for the job (they are all down or busy): try again shortly."""


class KeyReused(Exception):
    """An `Idempotency-Key` already used for a different request."""


def keyed_job_id(idempotency_key: str) -> str:
    """The job id a key stands for: a repeat finds the job it started, in Temporal itself."""
    return hashlib.sha256(f"goalflow-bulk\n{idempotency_key}".encode()).hexdigest()[:32]


def request_digest(automation_id: str, contacts: list[Any], version: int | None) -> str:
    """What makes two bulk requests the same request (canonical JSON, hashed)."""
    canonical = json.dumps(
        {"automation_id": automation_id, "contacts": contacts, "version": version},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


_KEY_REUSED = "this Idempotency-Key was already used for a different request"


class BulkJobs:
    def __init__(self, goalflow: GoalflowService, *, concurrency: int = 16) -> None:
        self.goalflow = goalflow
        self.client = goalflow.client
        self.concurrency = concurrency

    async def submit(
        self,
        automation_id: str,
        contacts: list[Any],
        version: int | None = None,
        *,
        idempotency_key: str | None = None,
        **knobs: Any,
    ) -> str:
        """Start a job; its id. With `idempotency_key`, a repeat of the same request answers the
        job the first one started, and another request under the same key raises KeyReused.
        `knobs` override `BulkJob` defaults (tests)."""
        digest = None
        if idempotency_key is not None:
            job_id = keyed_job_id(idempotency_key)
            digest = request_digest(automation_id, contacts, version)
            if await self._existing_digest(job_id) is not None:
                return await self._repeat(job_id, digest)
        else:
            job_id = uuid.uuid4().hex
        found = await self.goalflow.automation(automation_id, version)
        valid, invalid = validate_rows(contacts)
        chunks = chunk_rows(valid)
        task_queue = self.goalflow.task_queue
        slots = asyncio.Semaphore(START_CONCURRENCY)
        memo = {REQUEST_DIGEST: digest} if digest is not None else None

        async def hold(number: int, rows: list[BulkRow]) -> None:
            async with slots:
                try:
                    await self.client.start_workflow(
                        BulkChunkWorkflow.run,
                        BulkChunk(job_id=job_id, chunk=number, rows=rows),
                        id=chunk_workflow_id(job_id, number),
                        task_queue=task_queue,
                        static_summary=f"rows {number + 1}/{len(chunks)} of bulk job {job_id}",
                        memo=memo,
                    )
                except WorkflowAlreadyStartedError:
                    if digest is None:
                        raise
                    # A keyed repeat (concurrent, or after a crash before the job started):
                    # the holder holds these very rows if it was started for the same request.
                    held = await self._memo_digest(chunk_workflow_id(job_id, number))
                    if held != digest:
                        raise KeyReused(_KEY_REUSED) from None

        # The rows are stored before the job starts: a crash in between leaves only holders,
        # which expire; never a job missing its rows.
        await asyncio.gather(*(hold(n, rows) for n, rows in enumerate(chunks)))
        job = BulkJob(
            job_id=job_id,
            automation_id=automation_id,
            version=found.version,
            total=len(contacts),
            chunk_sizes=[len(rows) for rows in chunks],
            invalid=invalid,
            concurrency=self.concurrency,
            **knobs,
        )
        try:
            await self.client.start_workflow(
                BulkEnrollWorkflow.run,
                job,
                id=job_workflow_id(job_id),
                task_queue=task_queue,
                static_summary=(
                    f"bulk enrollment of {len(contacts)} contacts into {automation_id} "
                    f"v{found.version}"
                ),
                memo=memo,
                # A keyed job runs once, even after it has ended.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            if digest is None:
                raise
            return await self._repeat(job_id, digest)  # a concurrent repeat won the race
        metrics.BULK_JOBS.inc()
        metrics.BULK_ROWS.labels(result="valid").inc(len(valid))
        metrics.BULK_ROWS.labels(result="invalid").inc(len(contacts) - len(valid))
        return job_id

    async def _memo_digest(self, workflow_id: str) -> str | None:
        """The request digest in a workflow's memo; None when it has none or does not exist."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if is_missing(err):
                return None
            raise
        value = await description.memo_value(REQUEST_DIGEST, None)
        return value if isinstance(value, str) else None

    async def _existing_digest(self, job_id: str) -> str | None:
        return await self._memo_digest(job_workflow_id(job_id))

    async def _repeat(self, job_id: str, digest: str) -> str:
        if await self._existing_digest(job_id) != digest:
            raise KeyReused(_KEY_REUSED)
        return job_id

    async def cancel(self, job_id: str) -> BulkJobView:
        """Ask a running job to stop between batches; wait a little for the batches in flight.
        The view says `cancelled` once stopped, `cancelling` while batches finish, or the final
        status of a job that had already ended."""
        handle = self._handle(job_id)
        view = await self.view(job_id)
        if view.status not in ("running", "cancelling"):
            return view
        try:
            await handle.signal(BulkEnrollWorkflow.request_cancel)
        except RPCError as err:
            if not is_missing(err):  # it ended meanwhile
                raise
        try:
            return await asyncio.wait_for(handle.result(), CANCEL_WAIT.total_seconds())
        except TimeoutError:
            return await self.view(job_id)

    def _handle(self, job_id: str) -> WorkflowHandle[Any, BulkJobView]:
        return self.client.get_workflow_handle(job_workflow_id(job_id), result_type=BulkJobView)

    async def view(self, job_id: str) -> BulkJobView:
        handle = self._handle(job_id)
        with missing_as_not_found(f"job {job_id!r} not found"):
            description = await handle.describe()
        status = description.status
        if status == WorkflowExecutionStatus.COMPLETED:
            # The result, rather than a query that would replay the whole history.
            done: BulkJobView = await handle.result()
            return done
        try:
            view: BulkJobView = await handle.query(
                BulkEnrollWorkflow.view, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as err:
            if err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                raise JobUnavailable(
                    f"job {job_id!r}: no worker answered within "
                    f"{QUERY_TIMEOUT.total_seconds():.0f}s; the job goes on when one is back"
                ) from err
            raise
        if status == WorkflowExecutionStatus.CANCELED:
            view.status = "cancelled"
        elif status not in (WorkflowExecutionStatus.RUNNING, None):
            view.status = "failed"
        return view
