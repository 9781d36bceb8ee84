"""The service layer: what goalflow asks of Temporal, without HTTP. One place for workflow ids,
update-with-start and the errors a caller can act on (`goalflow/service/errors.py`).

The API routes, `goalflow.client`, the benchmarks and the tests drive `GoalflowService`:
automations (inherited from `AutomationOperations`), then contacts, enrollments and events here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.slow_worker import raise_if_worker_too_slow
from goalflow.service import metrics
from goalflow.service.automations import AutomationOperations
from goalflow.service.errors import (
    Conflict,
    NotFound,
    TooLarge,
    answered,
    is_missing,
    missing_as_not_found,
)
from goalflow.service.events import contact_event, event_chunks
from workflows.contact import ContactWorkflowV2, contact_start
from workflows.events import ContactEvent
from workflows.limits import PROFILE_TOO_LARGE, TOO_MANY_ENROLLMENTS
from workflows.messages import (
    REENTRY_REFUSED,
    ContactProfile,
    ContactView,
    EnrollmentView,
    EnrollRequest,
    EnrollResult,
    EventBatch,
    EventBatchReceipt,
    EventReceipt,
    ProfileSave,
    ProfileSaved,
    TagChange,
    TagChangeResult,
    contact_workflow_id,
)


def refused_as_too_large(err: WorkflowUpdateFailedError, loc: list[str]) -> None:
    """A contact's refusal of a change past its bounds (workflows/limits.py) is the caller's
    to fix: a 422 at `loc` saying how large the profile would be."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == PROFILE_TOO_LARGE:
        raise TooLarge(loc, cause.message) from err


class GoalflowService(AutomationOperations):
    async def enroll(
        self,
        automation_id: str,
        contact: ContactProfile,
        version: int | None = None,
        context: dict[str, Any] | None = None,
    ) -> EnrollResult:
        found = await self._enrollable(automation_id, version)
        if found.state == "paused":
            metrics.ENROLLMENTS.labels(result="refused").inc()
            raise Conflict(
                f"automation {automation_id!r} is paused: it enrolls nobody until it is resumed "
                f"(POST /v1/automations/{automation_id}/resume)"
            )
        try:
            result: EnrollResult = await self._answered(
                "enrollment",
                ContactWorkflowV2.enroll,
                EnrollRequest(
                    automation_id=automation_id,
                    version=found.version,
                    automation=found.definition,
                    contact=contact,
                    search_attributes=self.search_attributes,
                    context=context or {},
                    report_outcomes=self.report_outcomes,
                ),
                start_workflow_operation=contact_start(contact.id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REENTRY_REFUSED:
                metrics.ENROLLMENTS.labels(result="refused").inc()
                raise Conflict(
                    f"{cause.message}: publish a version with settings.allow_reentry true to "
                    "let contacts enter again"
                ) from err
            if isinstance(cause, ApplicationError) and cause.type == TOO_MANY_ENROLLMENTS:
                metrics.ENROLLMENTS.labels(result="refused").inc()
                raise Conflict(cause.message) from err
            refused_as_too_large(err, ["body", "contact"])
            raise
        metrics.ENROLLMENTS.labels(result="created" if result.created else "existing").inc()
        return result

    async def send_event(
        self,
        contact_id: str,
        type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> EventReceipt:
        event = contact_event(contact_id, type, data, event_id=event_id, occurred_at=occurred_at)
        await self._attach_triggers([event])
        receipt: EventReceipt = await self._answered(
            "event",
            ContactWorkflowV2.accept_event,
            event,
            start_workflow_operation=contact_start(contact_id, self.task_queue),
        )
        metrics.EVENTS.labels(result="duplicate" if receipt.duplicate else "accepted").inc()
        return receipt

    async def send_events(self, contact_id: str, events: list[ContactEvent]) -> list[EventReceipt]:
        """Events of one contact, in order, in as few updates as fit (`EVENT_BATCH_BYTES`).
        An error stops at the update that failed and is raised: earlier updates may have been
        accepted, so callers report the whole list as not accepted (a retry with the same ids
        applies each event once)."""
        receipts: list[EventReceipt] = []
        await self._attach_triggers(events)
        for chunk in event_chunks(events):
            answer: EventBatchReceipt = await self._answered(
                "events",
                ContactWorkflowV2.accept_events,
                EventBatch(events=chunk),
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
            for receipt in answer.receipts:
                metrics.EVENTS.labels(result="duplicate" if receipt.duplicate else "accepted").inc()
            receipts += answer.receipts
        return receipts

    async def change_tags(
        self, contact_id: str, add: list[str], remove: list[str], change_id: str | None = None
    ) -> TagChangeResult:
        cache = await self.triggers.current()
        try:
            result: TagChangeResult = await self._answered(
                "tag change",
                ContactWorkflowV2.change_tags,
                TagChange(
                    id=change_id or uuid.uuid4().hex,
                    add=add,
                    remove=remove,
                    triggers=cache.candidates(["contact.tag_added", "contact.tag_removed"]),
                ),
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            refused_as_too_large(err, ["body", "add"])
            raise
        return result

    async def save_profile(self, contact_id: str, save: ProfileSave) -> ProfileSaved:
        """`PUT /v1/contacts/{id}`: `contact.created` on the first save, else `contact.updated`
        when something changed; triggers on those and on the tag events fire (R14)."""
        cache = await self.triggers.current()
        save.triggers = cache.candidates(
            ["contact.created", "contact.updated", "contact.tag_added", "contact.tag_removed"]
        )
        try:
            result: ProfileSaved = await self._answered(
                "profile save",
                ContactWorkflowV2.save_profile,
                save,
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            refused_as_too_large(
                err, ["body", "tags" if save.tags and not save.fields else "fields"]
            )
            raise
        return result

    async def _answered(
        self,
        what: str,
        update: Any,
        arg: Any,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
    ) -> Any:
        """An update-with-start of a contact's workflow, answered within `answer_wait` or
        refused with 503 (NotAnswered): no request waits on a contact no worker serves."""
        return await answered(
            self.client.execute_update_with_start_workflow(
                update, arg, start_workflow_operation=start_workflow_operation
            ),
            self.answer_wait,
            what,
        )

    async def _attach_triggers(self, events: list[ContactEvent]) -> None:
        """R14: the triggers each event matches travel with it in the update that accepts it;
        the contact workflow enrolls right after accepting it, in acceptance order."""
        cache = await self.triggers.current()
        if cache.empty:
            return
        for event in events:
            event.triggers = cache.match(event)

    async def contact(self, contact_id: str) -> ContactView:
        handle = self.client.get_workflow_handle(contact_workflow_id(contact_id))
        with missing_as_not_found(f"contact {contact_id!r} not found"):
            view: ContactView = await handle.query(ContactWorkflowV2.view)
        return view

    async def enrollment(self, enrollment_id: str) -> EnrollmentView:
        handle = self.client.get_workflow_handle(enrollment_id)
        try:
            with missing_as_not_found(
                f"enrollment {enrollment_id!r} not found",
                statuses=(RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT),
            ):
                view: EnrollmentView = await handle.query("view", result_type=EnrollmentView)
        except WorkflowQueryFailedError as err:
            raise_if_worker_too_slow(err)
            raise NotFound(f"{enrollment_id!r} is not an enrollment") from err
        return view

    async def cancel(self, enrollment_id: str) -> EnrollmentView:
        """R11: cancel and wait for the enrollment to settle; its final view."""
        view = await self.enrollment(enrollment_id)
        if view.status != "active":
            return view
        handle = self.client.get_workflow_handle(enrollment_id, result_type=EnrollmentView)
        try:
            await handle.cancel()
        except RPCError as err:
            if not is_missing(err):
                raise
        final: EnrollmentView = await handle.result()
        return final
