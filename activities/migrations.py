"""The migration job's activities: list the enrollments to move, and send each its move."""

from __future__ import annotations

import asyncio
import base64

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from workflows.migration import MIGRATION_REFUSED, UPDATE_MIGRATE, MoveRequest, MoveResult
from workflows.migration_job import (
    LIST_MIGRATION_PAGE,
    MOVE_ENROLLMENTS,
    EnrollmentMoved,
    MigrationPage,
    MigrationPageRequest,
    MoveBatch,
    MovedBatch,
    running_on_version,
)

log = structlog.get_logger("goalflow.migrations")

# Updates sent at once by one batch.
MOVES_AT_ONCE = 10


class MigrationActivities:
    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name=LIST_MIGRATION_PAGE)
    async def list_migration_page(self, request: MigrationPageRequest) -> MigrationPage:
        token = base64.b64decode(request.page_token) if request.page_token else None
        iterator = self.client.list_workflows(
            running_on_version(request.automation_id, request.from_version),
            page_size=request.page_size,
            next_page_token=token,
        )
        await iterator.fetch_next_page()
        page = list(iterator.current_page or [])
        following = iterator.next_page_token
        return MigrationPage(
            enrollment_ids=[execution.id for execution in page],
            next_page_token=base64.b64encode(following).decode() if following else None,
        )

    @activity.defn(name=MOVE_ENROLLMENTS)
    async def move_enrollments(self, batch: MoveBatch) -> MovedBatch:
        slots = asyncio.Semaphore(MOVES_AT_ONCE)
        outcome = MovedBatch()

        async def move(enrollment_id: str) -> None:
            async with slots:
                result = await self._move(enrollment_id, batch.move)
            outcome.results.append(EnrollmentMoved(enrollment_id=enrollment_id, result=result))
            activity.heartbeat(len(outcome.results))

        async with asyncio.TaskGroup() as group:
            for enrollment_id in batch.enrollment_ids:
                group.create_task(move(enrollment_id))
        log.info(
            "migration batch",
            migration_id=batch.move.migration_id,
            enrollments=len(batch.enrollment_ids),
            attempt=activity.info().attempt,
        )
        # In the batch's order, whatever order the moves finished in.
        order = {enrollment_id: i for i, enrollment_id in enumerate(batch.enrollment_ids)}
        outcome.results.sort(key=lambda item: order[item.enrollment_id])
        return outcome

    async def _move(self, enrollment_id: str, request: MoveRequest) -> MoveResult:
        handle = self.client.get_workflow_handle(enrollment_id)
        try:
            result: MoveResult = await handle.execute_update(
                UPDATE_MIGRATE,
                request,
                # The same update id for the same move: Temporal answers a repeat with the
                # first answer.
                id=f"migration:{request.migration_id}",
                result_type=MoveResult,
            )
            return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == MIGRATION_REFUSED:
                reason = str(cause.details[0]) if cause.details else "refused"
                if reason != "ended":
                    return MoveResult(outcome="skipped", reason=reason)
            else:
                raise
        except RPCError:
            pass  # ended meanwhile (the server no longer takes updates), or gone
        return await self._ended(enrollment_id, request)

    async def _ended(self, enrollment_id: str, request: MoveRequest) -> MoveResult:
        """An enrollment no longer running: ended by this very move (asked again after a
        crash), or before its turn."""
        try:
            described = await self.client.get_workflow_handle(enrollment_id).describe()
        except RPCError:
            return MoveResult(outcome="skipped", reason="ended")
        if described.status == WorkflowExecutionStatus.RUNNING:
            raise ApplicationError(f"{enrollment_id} refused the move; asked again")
        memo = await described.memo()
        if memo.get("outcome") == "migrated_out":
            return MoveResult(outcome="ended")
        return MoveResult(outcome="skipped", reason="ended")
