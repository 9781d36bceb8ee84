from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query

from api.deps import GoalflowDep
from api.schemas import EnrollmentList, EnrollmentSummary
from api.service import NotFound
from workflows.messages import ENROLLMENT_PREFIX, EnrollmentView

router = APIRouter(tags=["enrollments"])

StatusFilter = Literal["active", "completed", "exited", "cancelled", "failed"]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@router.get("/enrollments/{enrollment_id}", response_model=EnrollmentView)
async def get_enrollment(enrollment_id: str, goalflow: GoalflowDep) -> EnrollmentView:
    """Status, current step, what it waits for, goals, timeline and outcome."""
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise HTTPException(404, detail=f"enrollment {enrollment_id!r} not found")
    try:
        return await goalflow.enrollment(enrollment_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err


@router.delete("/enrollments/{enrollment_id}")
async def cancel_enrollment(enrollment_id: str, goalflow: GoalflowDep) -> dict[str, str]:
    """R11: ends the enrollment at once (`cancelled`), or answers its final status."""
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise HTTPException(404, detail=f"enrollment {enrollment_id!r} not found")
    try:
        final = await goalflow.cancel(enrollment_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err
    return {"enrollment_id": enrollment_id, "status": final.status}


@router.get("/enrollments", response_model=EnrollmentList)
async def list_enrollments(
    goalflow: GoalflowDep,
    automation_id: str | None = Query(None, max_length=64),
    contact_id: str | None = Query(None, max_length=200),
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
    token: bytes | None = None
    if next_page_token:
        try:
            token = base64.urlsafe_b64decode(next_page_token.encode())
        except ValueError as err:
            raise HTTPException(422, detail="next_page_token is not valid") from err
    iterator = goalflow.client.list_workflows(
        " AND ".join(clauses), page_size=page_size, next_page_token=token
    )
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
        next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None,
    )


def _attr(attributes: Any, name: str) -> Any:
    for pair in attributes:
        if pair.key.name == name:
            return pair.value
    return None
