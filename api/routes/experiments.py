"""An automation's experiments: its split paths and its holdout, compared (docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import KnownAutomationId, ServiceDep
from api.experiments import ExperimentsReport, experiments_report

router = APIRouter(tags=["automations"])


@router.get(
    "/automations/{automation_id}/experiments",
    response_model=ExperimentsReport,
    responses={404: {"description": "unknown automation or version"}},
)
async def automation_experiments(
    goalflow: ServiceDep,
    automation_id: KnownAutomationId,
    version: int | None = Query(None, ge=1),
) -> ExperimentsReport:
    """Per split path of a version (default: the latest) and for its held-out against treated
    contacts: enrollments, goals met, rates with Wilson 95 % intervals, and the lift of the
    treated over the held-out with a 95 % interval (Newcombe's hybrid score method). From
    Temporal visibility: may lag the enrollments by a second."""
    found = await goalflow.automation(automation_id, version)
    return await experiments_report(goalflow.client, automation_id, found.version, found.definition)
