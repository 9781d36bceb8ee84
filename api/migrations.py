"""Moving running enrollments to another version (R19): the plan, the job, its progress.

The plan counts, per step of the version moved from, the enrollments visibility shows resting
there (`GoalflowVersion` and `GoalflowStep`; eventually consistent, like every visibility
answer); the job (workflows/migration_job.py) moves them durably."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.errors import NotFound
from goalflow.service.contacts import GoalflowService
from goalflow.service.visibility import can_rest, quote
from workflows.definition import Automation
from workflows.migration import MoveRequest, Unmapped, check_step_map, full_step_map
from workflows.migration_job import (
    MigrationJobInput,
    MigrationJobWorkflow,
    MigrationView,
    migration_workflow_id,
    running_on_version,
)
from workflows.search_attributes import STEP

QUERY_TIMEOUT = timedelta(seconds=5)


class PlannedMove(BaseModel):
    from_step: str
    to_step: str
    enrollments: int


class PlannedStay(BaseModel):
    from_step: str
    enrollments: int


class MigrationPlan(BaseModel):
    from_version: int
    to_version: int
    total: int
    moves: list[PlannedMove]
    unmapped: list[PlannedStay]
    migration_id: str | None = None  # set when the move was started (not a dry run)


class MigrationUnavailable(Exception):
    """No worker answered the job's query."""


def _refuse(loc: tuple[str | int, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])


def require_running(plan: MigrationPlan, from_version: int) -> None:
    """A job from a version nobody runs on is refused (422 at body.from_version): it would find
    nobody. A dry run answers its plan with `total: 0` instead."""
    if plan.total == 0:
        raise RequestValidationError(
            [
                {
                    "type": "no_running_enrollments",
                    "loc": ("body", "from_version"),
                    "msg": f"version {plan.from_version} has no running enrollments to move; "
                    "check the plan (a dry run) first",
                    "input": from_version,
                }
            ]
        )


class Migrations:
    def __init__(self, goalflow: GoalflowService) -> None:
        self.goalflow = goalflow
        self.client: Client = goalflow.client

    async def plan(
        self,
        automation_id: str,
        from_version: int,
        to_version: int | None,
        step_map: dict[str, str],
    ) -> tuple[MigrationPlan, Automation, dict[str, str]]:
        """The plan, the definition moved to, and the complete step map. NotFound for an
        unknown automation or version; RequestValidationError (422) for N = M or a map naming
        a step missing from its version."""
        old = await self.goalflow.automation(automation_id, from_version)
        new = await self.goalflow.automation(automation_id, to_version)
        if new.version == old.version:
            loc = ("body", "to_version") if to_version is not None else ("body", "from_version")
            raise _refuse(loc, "the versions moved from and to are the same", "same_version")
        problems = check_step_map(old.definition, new.definition, step_map)
        if problems:
            raise RequestValidationError(
                [
                    {"type": "unknown_step", "loc": ("body", "step_map", key), "msg": message}
                    for key, message in problems
                ]
            )
        full = full_step_map(old.definition, new.definition, step_map)
        base = running_on_version(automation_id, old.version)
        steps = old.definition.steps

        async def count(query: str) -> int:
            return (await self.client.count_workflows(query)).count

        async def at_step(position: int) -> int:
            if not can_rest(old.definition, position):
                return 0  # never shown there by visibility
            return await count(f"{base} AND {STEP.name} = {quote(steps[position].id)}")

        total, *here = await asyncio.gather(count(base), *(at_step(i) for i in range(len(steps))))
        plan = MigrationPlan(
            from_version=old.version,
            to_version=new.version,
            total=total,
            moves=[
                PlannedMove(from_step=step.id, to_step=full[step.id], enrollments=here[i])
                for i, step in enumerate(steps)
                if step.id in full
            ],
            unmapped=[
                PlannedStay(from_step=step.id, enrollments=here[i])
                for i, step in enumerate(steps)
                if step.id not in full
            ],
        )
        return plan, new.definition, full

    async def start(
        self,
        automation_id: str,
        plan: MigrationPlan,
        definition: Automation,
        step_map: dict[str, str],
        unmapped: Unmapped,
    ) -> str:
        migration_id = uuid.uuid4().hex
        move = MoveRequest(
            migration_id=migration_id,
            from_version=plan.from_version,
            to_version=plan.to_version,
            automation=definition,
            step_map=step_map,
            unmapped=unmapped,
        )
        job = MigrationJobInput(automation_id=automation_id, move=move)
        job.counts.total = plan.total
        await self.client.start_workflow(
            MigrationJobWorkflow.run,
            job,
            id=migration_workflow_id(migration_id),
            task_queue=self.goalflow.task_queue,
            static_summary=f"move {automation_id} v{plan.from_version} → v{plan.to_version}",
        )
        return migration_id

    async def view(self, migration_id: str) -> MigrationView:
        handle = self.client.get_workflow_handle(migration_workflow_id(migration_id))
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"migration {migration_id!r} not found") from err
            raise
        if description.status == WorkflowExecutionStatus.COMPLETED:
            done: MigrationView = await handle.result()
            return done
        try:
            view: MigrationView = await handle.query(
                MigrationJobWorkflow.view, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as err:
            if err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                raise MigrationUnavailable(
                    f"migration {migration_id!r}: no worker answered; it goes on when one is back"
                ) from err
            raise
        if description.status not in (WorkflowExecutionStatus.RUNNING, None):
            view.status = "failed"
        return view

    async def cancel(self, migration_id: str) -> MigrationView:
        view = await self.view(migration_id)
        if view.status == "running":
            handle = self.client.get_workflow_handle(migration_workflow_id(migration_id))
            await handle.signal(MigrationJobWorkflow.request_cancel)
        return view
