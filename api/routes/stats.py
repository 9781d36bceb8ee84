"""How an automation is doing, from Temporal visibility (so, a second or so behind)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from api.deps import GoalflowDep
from api.service import NotFound
from api.visibility import enrollment_stats
from workflows.definition import STEP_ID_PATTERN, GoalStep

router = APIRouter(tags=["automations"])


class GoalCount(BaseModel):
    met: int


class StatsOut(BaseModel):
    enrolled: int
    active: int
    completed: int
    exited: int
    cancelled: int
    failed: int
    goals: dict[str, GoalCount]


@router.get(
    "/automations/{automation_id}/stats",
    response_model=StatsOut,
    responses={404: {"description": "unknown automation"}},
)
async def automation_stats(
    goalflow: GoalflowDep, automation_id: Annotated[str, Path(description="automation id")]
) -> StatsOut:
    """Enrollments by status and, per goal step (of any version), how many met it. From
    visibility: may lag the enrollments themselves by a second; `enrolled` is the sum of the
    statuses."""
    if not re.fullmatch(STEP_ID_PATTERN, automation_id):
        raise HTTPException(404, detail=f"automation {automation_id!r} not found")
    try:
        latest = await goalflow.automation(automation_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err
    older = await asyncio.gather(
        *(goalflow.automation(automation_id, v) for v in range(1, latest.version))
    )
    goal_ids: list[str] = []
    for found in (*older, latest):
        for step in found.definition.steps:
            if isinstance(step, GoalStep) and step.id not in goal_ids:
                goal_ids.append(step.id)
    statuses, met = await enrollment_stats(goalflow.client, automation_id, goal_ids)
    return StatsOut(
        enrolled=sum(statuses.values()),
        **statuses,
        goals={goal: GoalCount(met=count) for goal, count in met.items()},
    )
