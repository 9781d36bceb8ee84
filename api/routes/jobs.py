"""Bulk enrollment jobs: submit up to 100,000 contacts, then follow the job's progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from api.deps import KnownAutomationId, KnownJobId, ServiceDep, SettingsDep
from api.schemas import Rejected, Strict
from goalflow.service.bulk import MAX_ROWS, BulkJobs, KeyReused
from workflows.bulk import BulkJobView, JobStatus

router = APIRouter(tags=["jobs"])

# Printable ASCII, as HTTP header values go; a UUID is the usual choice.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


class BulkEnrollmentIn(Strict):
    # Rows are validated one by one: an invalid row is rejected by index, not the job.
    contacts: list[Any] = Field(max_length=MAX_ROWS)
    version: int | None = Field(None, ge=1)


class JobAccepted(BaseModel):
    job_id: str


class JobOut(BaseModel):
    job_id: str
    automation_id: str
    version: int
    status: JobStatus
    total: int
    done: int
    created: int
    existing: int
    rejected: list[Rejected]
    error: str | None = None


@router.post(
    "/automations/{automation_id}/enrollments/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        404: {"description": "unknown automation or version"},
        422: {"description": "invalid body, or an Idempotency-Key used for another request"},
    },
)
async def bulk_enroll(
    body: BulkEnrollmentIn,
    goalflow: ServiceDep,
    settings: SettingsDep,
    automation_id: KnownAutomationId,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="the same key with the same body answers the same job_id; with another "
            "body, 422",
        ),
    ] = None,
) -> JobAccepted:
    """Enroll up to 100,000 contacts as a durable job; follow it at `GET /v1/jobs/{job_id}`.
    Invalid rows are not enrolled: the job lists them in `rejected` with their index."""
    jobs = BulkJobs(goalflow, concurrency=settings.bulk_concurrency)
    try:
        job_id = await jobs.submit(
            automation_id, body.contacts, body.version, idempotency_key=idempotency_key
        )
    except KeyReused as err:
        loc = ("header", "Idempotency-Key")
        raise RequestValidationError(
            [{"type": "idempotency_key_reused", "loc": loc, "msg": str(err), "input": None}]
        ) from err
    return JobAccepted(job_id=job_id)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={
        404: {"description": "unknown job"},
        503: {"description": "no worker answered for a running job (retry)"},
    },
)
async def get_job(job_id: KnownJobId, goalflow: ServiceDep) -> JobOut:
    """Progress of a bulk job: `done` of `total` rows, and what became of them."""
    view = await BulkJobs(goalflow).view(job_id)
    return _job_out(view)


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    responses={
        202: {"model": JobOut, "description": "cancelling: batches in flight still finishing"},
        404: {"description": "unknown job"},
        503: {"description": "no worker answered for a running job (retry)"},
    },
)
async def cancel_job(job_id: KnownJobId, goalflow: ServiceDep, response: Response) -> JobOut:
    """Stop a job between batches: no new batch starts, the batches in flight finish. Answers
    what was done: status `cancelled` with the counts (200), `cancelling` when batches were
    still finishing after 20 s (202; `GET` the job later), or the final status of a job that had
    already ended (200)."""
    view = await BulkJobs(goalflow).cancel(job_id)
    if view.status == "cancelling":
        response.status_code = status.HTTP_202_ACCEPTED
    return _job_out(view)


def _job_out(view: BulkJobView) -> JobOut:
    rejected = sorted(
        (
            Rejected(index=index, reason=reason)
            for reason, rows in view.rejected.items()
            for index in rows
        ),
        key=lambda r: r.index,
    )
    return JobOut(**view.model_dump(exclude={"rejected"}), rejected=rejected)
