from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from itsdangerous import BadSignature, Signer

from api.deps import GoalflowDep, SettingsDep
from api.schemas import CONTACT_ID_PATTERN, EnrollmentList, EnrollmentOut, EnrollmentSummary
from api.service import NotFound
from workflows.definition import STEP_ID_PATTERN
from workflows.messages import ENROLLMENT_PREFIX

router = APIRouter(tags=["enrollments"])

StatusFilter = Literal["active", "completed", "exited", "cancelled", "failed"]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@router.get("/enrollments/{enrollment_id}", response_model=EnrollmentOut)
async def get_enrollment(enrollment_id: str, goalflow: GoalflowDep) -> EnrollmentOut:
    """Status, current step, what it waits for, goals, timeline and outcome."""
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise HTTPException(404, detail=f"enrollment {enrollment_id!r} not found")
    try:
        view = await goalflow.enrollment(enrollment_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err
    return EnrollmentOut.model_validate(view.model_dump())


@router.delete("/enrollments/{enrollment_id}")
async def cancel_enrollment(enrollment_id: str, goalflow: GoalflowDep) -> dict[str, str]:
    """R11: ends the enrollment at once (`cancelled`), or answers its final status."""
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise HTTPException(404, detail=f"enrollment {enrollment_id!r} not found")
    try:
        final = await goalflow.cancel(enrollment_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err
    return {"status": final.status}


@router.get("/enrollments", response_model=EnrollmentList)
async def list_enrollments(
    goalflow: GoalflowDep,
    settings: SettingsDep,
    automation_id: str | None = Query(None, pattern=STEP_ID_PATTERN),
    contact_id: str | None = Query(None, pattern=CONTACT_ID_PATTERN),
    status: StatusFilter | None = None,
    page_size: int = Query(100, ge=1, le=1000),
    next_page_token: str | None = Query(None, max_length=4096),
) -> EnrollmentList:
    """Through Temporal visibility: may lag the truth by a second."""
    clauses = ["WorkflowType = 'EnrollmentWorkflow'"]
    if automation_id:
        clauses.append(f"GoalflowAutomationId = {_quote(automation_id)}")
    if contact_id:
        clauses.append(f"GoalflowContactId = {_quote(contact_id)}")
    if status == "active":
        clauses.append("ExecutionStatus = 'Running'")
    elif status is not None:
        clauses.append("ExecutionStatus != 'Running'")
    query = " AND ".join(clauses)
    # Page tokens are Temporal's, signed for this query: a token we did not hand out (or one
    # for other filters) is refused here, rather than by Temporal as an internal error.
    signer = Signer(settings.secret, salt=f"goalflow-enrollments-page:{query}")
    token: bytes | None = None
    if next_page_token:
        try:
            token = base64.urlsafe_b64decode(signer.unsign(next_page_token))
        except (BadSignature, ValueError) as err:
            raise _bad_token(next_page_token) from err
    iterator = goalflow.client.list_workflows(query, page_size=page_size, next_page_token=token)
    await iterator.fetch_next_page()
    items: list[EnrollmentSummary] = []
    for execution in iterator.current_page or []:
        memo = await execution.memo()
        attributes = execution.typed_search_attributes
        summary = EnrollmentSummary(
            enrollment_id=execution.id,
            automation_id=_attr(attributes, "GoalflowAutomationId"),
            contact_id=_attr(attributes, "GoalflowContactId"),
            version=memo.get("version"),
            status=memo.get("status") or "active",
            current_step=_attr(attributes, "GoalflowStep") or None,
            started_at=execution.start_time,
        )
        if execution.status is not None and execution.status.name != "RUNNING":
            summary.status = memo.get("status", "completed")
        if status is None or summary.status == status:
            items.append(summary)
    next_token = iterator.next_page_token
    return EnrollmentList(
        enrollments=items,
        next_page_token=(
            signer.sign(base64.urlsafe_b64encode(next_token)).decode() if next_token else None
        ),
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


def _attr(attributes: Any, name: str) -> Any:
    for pair in attributes:
        if pair.key.name == name:
            return pair.value
    return None
