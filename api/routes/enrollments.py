from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from itsdangerous import BadSignature

from api.deps import KnownEnrollmentId, ServiceDep, SettingsDep
from api.schemas import CONTACT_ID_PATTERN, EnrollmentCancelled, EnrollmentList, EnrollmentOut
from goalflow.core.tracking import signer as secret_signer
from goalflow.service.visibility import BadPageToken, enrollment_query
from goalflow.service.visibility import list_enrollments as list_visible_enrollments
from workflows.definition import STEP_ID_PATTERN
from workflows.messages import EnrollmentStatus

router = APIRouter(tags=["enrollments"])


@router.get(
    "/enrollments/{enrollment_id}",
    response_model=EnrollmentOut,
    responses={404: {"description": "unknown enrollment"}},
)
async def get_enrollment(enrollment_id: KnownEnrollmentId, goalflow: ServiceDep) -> EnrollmentOut:
    """Status, current step, what it waits for, goals, timeline and outcome."""
    view = await goalflow.enrollment(enrollment_id)
    return EnrollmentOut.model_validate(view.model_dump())


@router.delete(
    "/enrollments/{enrollment_id}",
    response_model=EnrollmentCancelled,
    responses={404: {"description": "unknown enrollment"}},
)
async def cancel_enrollment(
    enrollment_id: KnownEnrollmentId, goalflow: ServiceDep
) -> EnrollmentCancelled:
    """Ends the enrollment at once (`cancelled`), or answers its final status (R11 in
    docs/automations.md)."""
    final = await goalflow.cancel(enrollment_id)
    return EnrollmentCancelled(enrollment_id=enrollment_id, status=final.status)


@router.get("/enrollments", response_model=EnrollmentList)
async def list_enrollments(
    goalflow: ServiceDep,
    settings: SettingsDep,
    automation_id: str | None = Query(None, pattern=STEP_ID_PATTERN),
    contact_id: str | None = Query(None, pattern=CONTACT_ID_PATTERN),
    status: EnrollmentStatus | None = None,
    page_size: int = Query(100, ge=1, le=1000),
    next_page_token: str | None = Query(None, max_length=4096),
) -> EnrollmentList:
    """Newest first, through Temporal visibility: may lag the enrollments by a second. A page
    holds at most `page_size`; with an ended `status` it may hold fewer (even none) and still
    have a `next_page_token`: page on until the token is null."""
    query = enrollment_query(automation_id, contact_id, status)
    # Page tokens are signed for this query: a token we did not hand out (or one for other
    # filters) is refused here, rather than by Temporal as an internal error.
    signer = secret_signer(settings.secret, salt=f"goalflow-enrollments-page:{query}")
    token: str | None = None
    if next_page_token:
        try:
            token = signer.unsign(next_page_token).decode()
        except (BadSignature, ValueError) as err:
            raise _bad_token(next_page_token) from err
    try:
        items, next_token = await list_visible_enrollments(
            goalflow.client,
            automation_id=automation_id,
            contact_id=contact_id,
            status=status,
            page_size=page_size,
            page_token=token,
        )
    except BadPageToken as err:
        raise _bad_token(next_page_token or "") from err
    return EnrollmentList(
        enrollments=items,
        next_page_token=signer.sign(next_token).decode() if next_token else None,
    )


def _bad_token(token: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", "next_page_token"),
                "msg": "next_page_token is not valid: pass the one a previous page returned",
                "input": token,
            }
        ]
    )
