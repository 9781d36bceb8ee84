"""Moving running enrollments to another version of their automation (R19)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from pydantic import Field, StringConstraints

from api.deps import KnownAutomationId, ServiceDep
from api.errors import NotFound
from api.migrations import MigrationPlan, Migrations, MigrationUnavailable, require_running
from api.schemas import JOB_ID_PATTERN, Strict
from workflows.definition import STEP_ID_PATTERN
from workflows.migration import Unmapped
from workflows.migration_job import MigrationView

router = APIRouter(tags=["migrations"])

StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]


class MigrationIn(Strict):
    from_version: int = Field(ge=1)
    # Default: the latest version.
    to_version: int | None = Field(None, ge=1)
    # Default: each step to the step of the same id in the new version, where there is one;
    # entries given here replace or add to that.
    step_map: dict[StepId, StepId] = Field(default_factory=dict, max_length=1000)
    unmapped: Unmapped = "stay"
    dry_run: bool = True


async def known_migration_id(migration_id: Annotated[str, Path(description="migration id")]) -> str:
    if not re.fullmatch(JOB_ID_PATTERN, migration_id):
        raise NotFound(f"migration {migration_id!r} not found")
    return migration_id


KnownMigrationId = Annotated[str, Depends(known_migration_id)]


@router.post(
    "/automations/{automation_id}/migrations",
    response_model=MigrationPlan,
    response_model_exclude_none=True,
    responses={
        202: {"model": MigrationPlan, "description": "the move started: `migration_id`"},
        404: {"description": "unknown automation or version"},
        422: {
            "description": "invalid body, the same version, a step missing from its version, or "
            "(not a dry run) a version with no running enrollments"
        },
    },
)
async def migrate(
    body: MigrationIn,
    automation_id: KnownAutomationId,
    goalflow: ServiceDep,
    response: Response,
) -> MigrationPlan:
    """Plan (dry run, the default) or start moving the running enrollments of `from_version`
    to `to_version`: per step of `from_version`, where its enrollments go and how many rest
    there now. With `dry_run: false`, a durable job moves them; follow it at
    `GET /v1/migrations/{migration_id}`."""
    migrations = Migrations(goalflow)
    plan, definition, step_map = await migrations.plan(
        automation_id, body.from_version, body.to_version, body.step_map
    )
    if body.dry_run:
        return plan
    require_running(plan, body.from_version)
    plan.migration_id = await migrations.start(
        automation_id, plan, definition, step_map, body.unmapped
    )
    response.status_code = status.HTTP_202_ACCEPTED
    return plan


@router.get(
    "/migrations/{migration_id}",
    response_model=MigrationView,
    responses={
        404: {"description": "unknown migration"},
        503: {"description": "no worker answered for a running migration (retry)"},
    },
)
async def get_migration(migration_id: KnownMigrationId, goalflow: ServiceDep) -> MigrationView:
    """A migration's progress: `done` of `total`, how many moved, stayed and ended, and the
    enrollments skipped with the reason."""
    try:
        return await Migrations(goalflow).view(migration_id)
    except MigrationUnavailable as err:
        raise HTTPException(503, detail=str(err), headers={"Retry-After": "2"}) from err


@router.post(
    "/migrations/{migration_id}/cancel",
    response_model=MigrationView,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "unknown migration"},
        503: {"description": "no worker answered for a running migration (retry)"},
    },
)
async def cancel_migration(migration_id: KnownMigrationId, goalflow: ServiceDep) -> MigrationView:
    """Stop a migration between batches: the batches in flight finish, then its status becomes
    `cancelled`. Enrollments already moved stay moved. Answers the progress so far."""
    try:
        return await Migrations(goalflow).cancel(migration_id)
    except MigrationUnavailable as err:
        raise HTTPException(503, detail=str(err), headers={"Retry-After": "2"}) from err
