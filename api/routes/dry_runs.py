"""Dry runs (docs/api.md, "Preview, explain, dry runs"): a definition replayed over the events the
contacts kept, as a durable job; nothing is sent."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field, field_validator
from temporalio.service import RPCError, RPCStatusCode

from api.deps import KnownAutomationId, ServiceDep, SettingsDep
from api.errors import NotFound
from api.preview import definition_to_preview
from api.schemas import Strict
from workflows.dry_run import DryRunJob, DryRunView, DryRunWorkflow, dry_run_workflow_id
from workflows.durations import parse_duration

router = APIRouter(tags=["dry runs"])

MAX_SINCE = timedelta(days=30)
DRY_RUN_ID = r"^[0-9a-f]{32}$"


class DryRunIn(Strict):
    version: int | None = Field(None, ge=1)
    definition: dict[str, Any] | None = None
    use_draft: bool = False
    since: str = Field(..., description="ISO 8601 duration back from now, at most P30D")

    @field_validator("since")
    @classmethod
    def _since(cls, value: str) -> str:
        if parse_duration(value) > MAX_SINCE:
            raise ValueError(f"since {value!r} is longer than P30D")
        return value


class DryRunStarted(BaseModel):
    dry_run_id: str


def answer(view: DryRunView) -> dict[str, Any]:
    tally = view.tally
    done = view.status != "running"
    progress = 1.0 if done else min(1.0, tally.contacts_listed / view.total) if view.total else 0.0
    found: dict[str, Any] = {
        "dry_run_id": view.dry_run_id,
        "automation_id": view.automation_id,
        "version": view.version,
        "status": view.status,
        "contacts_scanned": tally.contacts_scanned,
        "events_scanned": tally.events_scanned,
        "would_enroll": tally.would_enroll,
        "steps": [
            {
                "step_id": step_id,
                "reached": tally.reached.get(step_id, 0),
                "here": tally.here.get(step_id, 0),
                **({"met": tally.met.get(step_id, 0)} if step_id in view.goals else {}),
            }
            for step_id in view.steps
        ],
        "outcomes": tally.outcomes,
        "sends": tally.sends,
        "progress": progress,
    }
    if view.error:
        found["error"] = view.error
    return found


@router.post(
    "/automations/{automation_id}/dry-runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DryRunStarted,
    responses={404: {"description": "unknown automation"}},
)
async def start_dry_run(
    goalflow: ServiceDep, settings: SettingsDep, automation_id: KnownAutomationId, body: DryRunIn
) -> DryRunStarted:
    """Replay the events contacts kept over `since` through the definition, as if it had been
    active then (triggers, R13, R14), each enrollment through the preview (R18). No side
    effect."""
    automation, version = await definition_to_preview(
        goalflow, settings, automation_id, body.version, body.definition, body.use_draft
    )
    now = datetime.now(UTC)
    dry_run_id = uuid.uuid4().hex
    await goalflow.client.start_workflow(
        DryRunWorkflow.run,
        DryRunJob(
            dry_run_id=dry_run_id,
            automation_id=automation_id,
            version=version,
            definition=automation,
            since=now - parse_duration(body.since),
            now=now,
            task_queue=goalflow.task_queue,
        ),
        id=dry_run_workflow_id(dry_run_id),
        task_queue=goalflow.task_queue,
        static_summary=f"dry run of {automation_id} v{version} over {body.since}",
    )
    return DryRunStarted(dry_run_id=dry_run_id)


@router.get("/dry-runs/{dry_run_id}", responses={404: {"description": "unknown dry run"}})
async def get_dry_run(
    goalflow: ServiceDep, dry_run_id: Annotated[str, Path(description="dry run id")]
) -> dict[str, Any]:
    """Its status, progress and counts so far."""
    if not re.fullmatch(DRY_RUN_ID, dry_run_id):
        raise NotFound(f"dry run {dry_run_id!r} not found")
    handle = goalflow.client.get_workflow_handle(dry_run_workflow_id(dry_run_id))
    try:
        view: DryRunView = await handle.query(DryRunWorkflow.view)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"dry run {dry_run_id!r} not found") from err
        raise
    return answer(view)
