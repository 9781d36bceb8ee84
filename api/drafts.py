"""What the draft and version routes ask of Temporal: the automation's draft workflow
(workflows/drafts.py), its published versions, and how many enrollments run each version."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import NotFound, TooLarge
from goalflow.service.contacts import GoalflowService
from goalflow.service.visibility import enrollment_query
from workflows.automation import AutomationWorkflow, CatalogWorkflow
from workflows.draft_messages import (
    DRAFT_TOO_LARGE,
    DraftChange,
    DraftDiscard,
    DraftSave,
    DraftState,
    draft_entry,
    draft_workflow_id,
)
from workflows.drafts import DraftWorkflow
from workflows.messages import AutomationVersion, automation_workflow_id


def _is_not_found(err: BaseException) -> bool:
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


async def latest_version(goalflow: GoalflowService, automation_id: str) -> int | None:
    """The latest published version (None: never published)."""
    try:
        return (await goalflow.automation(automation_id)).version
    except NotFound:
        return None


async def versions(goalflow: GoalflowService, automation_id: str) -> list[AutomationVersion]:
    """Every published version, oldest first; NotFound when there is none."""
    handle = goalflow.client.get_workflow_handle(automation_workflow_id(automation_id))
    try:
        found: list[AutomationVersion] = await handle.query(AutomationWorkflow.versions)
    except RPCError as err:
        if _is_not_found(err):
            raise NotFound(f"automation {automation_id!r} not found") from err
        raise
    if not found:
        raise NotFound(f"automation {automation_id!r} not found")
    return found


async def running_per_version(
    goalflow: GoalflowService, automation_id: str, numbers: list[int]
) -> dict[int, int]:
    """Running enrollments of each version (visibility: may lag by a second)."""
    base = enrollment_query(automation_id, status="active")

    async def count(version: int) -> int:
        query = f"{base} AND GoalflowVersion = {int(version)}"
        return (await goalflow.client.count_workflows(query)).count

    counts = await asyncio.gather(*(count(n) for n in numbers))
    return dict(zip(numbers, counts, strict=True))


async def current(goalflow: GoalflowService, automation_id: str) -> DraftChange:
    """The automation's draft (its `draft` None when there is none)."""
    handle = goalflow.client.get_workflow_handle(draft_workflow_id(automation_id))
    try:
        found: DraftChange = await handle.query(DraftWorkflow.get)
    except RPCError as err:
        if _is_not_found(err):
            return DraftChange(automation_id=automation_id, draft=None, revision=0, changed=False)
        raise
    return found


async def save(
    goalflow: GoalflowService,
    automation_id: str,
    definition: dict[str, Any],
    *,
    replace: bool = False,
) -> DraftChange:
    """Save the draft (a new one, based on the latest version now, with `replace`)."""
    request = DraftSave(
        definition=definition,
        latest_version=await latest_version(goalflow, automation_id),
        replace=replace,
    )
    try:
        change: DraftChange = await goalflow.client.execute_update_with_start_workflow(
            DraftWorkflow.save,
            request,
            start_workflow_operation=WithStartWorkflowOperation(
                DraftWorkflow.run,
                DraftState(automation_id=automation_id),
                id=draft_workflow_id(automation_id),
                task_queue=goalflow.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"draft of automation {automation_id}",
            ),
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == DRAFT_TOO_LARGE:
            raise TooLarge(["body"], cause.message) from err
        raise
    await _register(goalflow, change)
    return change


async def discard(
    goalflow: GoalflowService, automation_id: str, if_revision: int | None = None
) -> DraftChange:
    """Delete the draft (only while it is the one of `if_revision`, when given)."""
    handle = goalflow.client.get_workflow_handle(draft_workflow_id(automation_id))
    try:
        change: DraftChange = await handle.execute_update(
            DraftWorkflow.discard, DraftDiscard(if_revision=if_revision)
        )
    except RPCError as err:
        if _is_not_found(err):
            return DraftChange(automation_id=automation_id, draft=None, revision=0, changed=False)
        raise
    # Registered even when nothing changed: heals a catalog entry a crash left behind.
    await _register(goalflow, change)
    return change


async def _register(goalflow: GoalflowService, change: DraftChange) -> None:
    await goalflow.client.execute_update_with_start_workflow(
        CatalogWorkflow.register_draft,
        draft_entry(change),
        start_workflow_operation=goalflow._catalog_start(),
    )
