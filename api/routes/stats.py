"""How an automation is doing, from Temporal visibility (so, a second or so behind)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import KnownAutomationId, ServiceDep
from goalflow.service.visibility import enrollment_stats
from workflows.definition import GoalStep

router = APIRouter(tags=["automations"])


class GoalCount(BaseModel):
    met: int


class TriggerStats(BaseModel):
    """Enrollments a trigger started, and its matches that enrolled nobody, by reason: the
    contact was in the automation already (`active`), re-entry not allowed (`reentry`), the
    automation paused (`paused`), the chain of automated causes too deep (`chain_cut`), the
    contact in as many automations as it may be (`limit`)."""

    started: int
    refused: dict[str, int]


class StatsOut(BaseModel):
    enrolled: int
    active: int
    completed: int
    exited: int
    cancelled: int
    failed: int
    goals: dict[str, GoalCount]
    triggers: dict[str, TriggerStats]


@router.get(
    "/automations/{automation_id}/stats",
    response_model=StatsOut,
    responses={404: {"description": "unknown automation"}},
)
async def automation_stats(goalflow: ServiceDep, automation_id: KnownAutomationId) -> StatsOut:
    """Enrollments by status and, per goal step (of any version), how many met it. From
    visibility: may lag the enrollments themselves by a second; `enrolled` is the sum of the
    statuses."""
    latest = await goalflow.automation(automation_id)
    older = await asyncio.gather(
        *(goalflow.automation(automation_id, v) for v in range(1, latest.version))
    )
    goal_ids: list[str] = []
    for found in (*older, latest):
        for step in found.definition.steps:
            if isinstance(step, GoalStep) and step.id not in goal_ids:
                goal_ids.append(step.id)
    statuses, met = await enrollment_stats(goalflow.client, automation_id, goal_ids)
    counts = await goalflow.trigger_counts(automation_id)
    trigger_ids = [latest.definition.trigger_id(i) for i in range(len(latest.definition.triggers))]
    trigger_ids += [t for t in counts if t not in trigger_ids]
    reasons = ("active", "reentry", "paused", "chain_cut", "limit")
    triggers = {}
    for trigger_id in trigger_ids:
        count = counts.get(trigger_id)
        refused = count.refused if count else {}
        triggers[trigger_id] = TriggerStats(
            started=count.started if count else 0,
            refused={reason: refused.get(reason, 0) for reason in reasons},
        )
    return StatsOut(
        enrolled=sum(statuses.values()),
        **statuses,
        goals={goal: GoalCount(met=count) for goal, count in met.items()},
        triggers=triggers,
    )
