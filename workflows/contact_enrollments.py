"""The contact's enrollments: starting them (R13: one active per automation, re-entry only when
allowed; a request id answered once), learning their end, and forwarding events to them in
acceptance order (R1).

Workflow code, run in the contact's sandbox: enrollments are child workflows the contact starts
and signals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from workflows.contact_profile import ProfileChanges

with workflow.unsafe.imports_passed_through():
    from workflows.event_memory import recall, remember
    from workflows.events import ContactEvent
    from workflows.experiments import HOLDOUT_MARK, is_held_out
    from workflows.interpreter import first_stop
    from workflows.limits import enrollment_refusal, forward_parts, json_bytes
    from workflows.messages import (
        REENTRY_REFUSED,
        SIGNAL_EVENT,
        SIGNAL_REPORT_END,
        ActiveEnrollment,
        ContactState,
        EnrollmentEnded,
        EnrollmentInput,
        EnrollmentView,
        EnrollReceipt,
        EnrollRequest,
        EnrollResult,
        enrollment_workflow_id,
    )
    from workflows.patches import (
        CONTACT_ENROLL_SEES_END_IN_THE_SAME_TASK,
        CONTACT_FORWARDS_IN_PARTS,
        CONTACT_LEARNS_END_FROM_CHILD_COMPLETION,
    )
    from workflows.search_attributes import AUTOMATION_ID, CONTACT_ID, REACHED, STEP, VERSION

# Enroll request ids remembered per contact (a bulk job's rows), carried across continue-as-new.
ENROLL_RECEIPTS = 100

# How long an enroll update waits for the end of the contact's active enrollment in the same
# automation before answering that it is still active (see `_ended_in_this_task`).
SAME_TASK_END = timedelta(milliseconds=1)


class Enrollments:
    """The enrollments in `state.active`. `enrollment_type` is the name of the child type
    started (the first contact type starts the first enrollment type); `first_stop_at_start`:
    the child's search attributes at start name its first stop rather than its first step (V2);
    `patched` asks a patch of the contact's type."""

    def __init__(
        self,
        state: ContactState,
        profile: ProfileChanges,
        enrollment_type: str,
        first_stop_at_start: bool,
        patched: Callable[[str], bool],
    ) -> None:
        self.state = state
        self.profile = profile
        self.enrollment_type = enrollment_type
        self.first_stop_at_start = first_stop_at_start
        self.patched = patched
        # Enrollments this run started and learns the end of from their completion: the next
        # run is not their parent, so none is carried over (see hand_over_watched).
        self.watched: dict[str, asyncio.Task[None]] = {}

    async def enroll(self, request: EnrollRequest, *, asked: bool = False) -> EnrollResult:
        """A request with an id seen before gets its first answer: a bulk batch retried after a
        crash must neither enroll the contact twice nor count it as existing. `asked`: an
        enroll update, whose caller gets the answer (not a trigger)."""
        receipts = self.state.enroll_receipts
        if request.request_id is not None:
            for receipt in receipts:
                if receipt.request_id == request.request_id:
                    return receipt.result
        result = await self._start_enrollment(request, asked)
        if result.created:
            workflow.metric_meter().create_counter(
                "goalflow_enrollments_started", "enrollments started by contact workflows"
            ).add(1, {"automation_id": request.automation_id})
        if request.request_id is not None:
            receipts.append(EnrollReceipt(request_id=request.request_id, result=result))
            del receipts[:-ENROLL_RECEIPTS]
        return result

    async def _start_enrollment(self, request: EnrollRequest, asked: bool) -> EnrollResult:
        contact_id = self.state.contact_id
        active = self._active_in(request.automation_id)
        if active is not None and asked and await self._ended_in_this_task(active):
            active = self._active_in(request.automation_id)
        if active is not None:
            return EnrollResult(
                enrollment_id=active.enrollment_id,
                automation_id=active.automation_id,
                version=active.version,
                contact_id=contact_id,
                created=False,
            )
        previous = self.state.enrollment_counts.get(request.automation_id, 0)
        if previous and not request.automation.settings.allow_reentry:
            raise ApplicationError(
                f"contact {contact_id!r} was already enrolled in {request.automation_id!r} "
                "and the automation does not allow re-entry",
                type=REENTRY_REFUSED,
                non_retryable=True,
            )
        refused = enrollment_refusal(
            len(self.state.active), self.state.enrollment_counts, request.automation_id
        )
        if refused is not None and self.profile.too_large(refused):
            raise refused
        self.profile.merge_enrollment(request)
        number = previous + 1
        enrollment_id = enrollment_workflow_id(request.automation_id, contact_id, number)
        # Free at start, where an upsert is a billable action: the first step, or (V2) the
        # first place the enrollment can stop, which it then need not write.
        steps = request.automation.steps
        reached = first_stop(steps) if self.first_stop_at_start else [steps[0].id]
        step = reached[-1]
        if is_held_out(request.automation_id, contact_id, request.automation.settings.holdout):
            step, reached = "", [HOLDOUT_MARK]  # at no step: it runs none
        attributes = (
            TypedSearchAttributes(
                [
                    SearchAttributePair(CONTACT_ID, contact_id),
                    SearchAttributePair(AUTOMATION_ID, request.automation_id),
                    SearchAttributePair(STEP, step),
                    SearchAttributePair(VERSION, request.version),
                    SearchAttributePair(REACHED, reached),
                ]
            )
            if request.search_attributes
            else None
        )
        # The end of the enrollment is in this history anyway (the child's completion): no need
        # for a signal, a billable action and five history events.
        watched = self.patched(CONTACT_LEARNS_END_FROM_CHILD_COMPLETION)
        child = await workflow.start_child_workflow(
            self.enrollment_type,
            EnrollmentInput(
                enrollment_id=enrollment_id,
                automation_id=request.automation_id,
                version=request.version,
                automation=request.automation,
                contact=self.state.profile.model_copy(deep=True),
                contact_workflow_id=workflow.info().workflow_id,
                search_attributes=request.search_attributes,
                continue_as_new_after_events=request.continue_as_new_after_events,
                context=request.context,
                trigger=request.trigger,
                lookback_events=recall(self.state.memory, request.automation, workflow.now()),
                enrolled_at=workflow.now(),
                end_reported_by_signal=not watched,
                report_outcomes=request.report_outcomes,
            ),
            id=enrollment_id,
            result_type=EnrollmentView,
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=attributes,
            memo={"version": request.version, "status": "active"},
            static_summary=(
                f"{request.automation.name} (automation {request.automation_id} "
                f"v{request.version}) · contact {contact_id}"
            ),
        )
        self.state.enrollment_counts[request.automation_id] = number
        active = ActiveEnrollment(
            enrollment_id=enrollment_id,
            automation_id=request.automation_id,
            version=request.version,
        )
        self.state.active.append(active)
        if watched:
            self._watch(child, active)
        return EnrollResult(
            enrollment_id=enrollment_id,
            automation_id=request.automation_id,
            version=request.version,
            contact_id=contact_id,
            created=True,
        )

    def _active_in(self, automation_id: str) -> ActiveEnrollment | None:
        return next((a for a in self.state.active if a.automation_id == automation_id), None)

    async def _ended_in_this_task(self, active: ActiveEnrollment) -> bool:
        """Whether `active`, an enrollment this run started, ends in the workflow task being
        run. Temporal hands a task's updates to the workflow before its children's completions,
        so an enroll update sent once the caller saw the enrollment end can arrive in the task
        that carries that end, and find it still active. A short timer lets the rest of the task
        apply first: if the end is there, the timer is cancelled before it is ever sent; if not,
        the answer (still active) waits for it to fire. Only for updates, whose callers act on
        the answer; a trigger finding the automation active is not asked again."""
        watch = self.watched.get(active.enrollment_id)
        if watch is None or not workflow.patched(CONTACT_ENROLL_SEES_END_IN_THE_SAME_TASK):
            return False
        try:
            await workflow.wait_condition(
                watch.done, timeout=SAME_TASK_END, timeout_summary="enrollment still active"
            )
        except TimeoutError:
            return False
        return True

    def ended(self, ended: EnrollmentEnded) -> None:
        self.state.active = [a for a in self.state.active if a.enrollment_id != ended.enrollment_id]

    def _watch(self, child: ChildWorkflowHandle[Any, Any], active: ActiveEnrollment) -> None:
        async def watch() -> None:
            try:
                status = (await child).status
            except ChildWorkflowError:  # terminated, timed out or failed: ended all the same
                status = "failed"
            self.watched.pop(active.enrollment_id, None)
            self.ended(
                EnrollmentEnded(
                    enrollment_id=active.enrollment_id,
                    automation_id=active.automation_id,
                    status=status,
                )
            )

        self.watched[active.enrollment_id] = asyncio.create_task(watch())

    async def hand_over_watched(self) -> None:
        """Before continuing as new: the next run is not the parent of the enrollments this run
        started and would not see them complete, so each reports its end by signal from now on.
        One that has completed meanwhile is let go."""
        watched = [a for a in self.state.active if a.enrollment_id in self.watched]
        if not watched:
            return
        sends = [
            workflow.get_external_workflow_handle(a.enrollment_id).signal(SIGNAL_REPORT_END)
            for a in watched
        ]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        for active, outcome in zip(watched, outcomes, strict=True):
            self.watched.pop(active.enrollment_id, None)
            if isinstance(outcome, ApplicationError):
                self._completed(active)

    async def forward(self, event: ContactEvent) -> None:
        """Signal the event to every active enrollment, all at once, and wait for delivery
        before the next event so that each enrollment sees events in acceptance order. A large
        event goes to a few enrollments per workflow task (`forward_parts`): the signals of
        one task travel in one message, which Temporal refuses past 4 MB."""
        self.state.events_seen += 1
        remember(self.state.memory, event, workflow.now())
        active = list(self.state.active)
        if not active:
            return
        if event.triggers:
            event = event.model_copy(update={"triggers": []})
        parts = forward_parts(active, json_bytes(event))
        if len(parts) > 1 and not workflow.patched(CONTACT_FORWARDS_IN_PARTS):
            parts = [active]  # as runs before the patch did
        for part in parts:
            await self._signal_event(part, event)

    async def _signal_event(self, active: list[ActiveEnrollment], event: ContactEvent) -> None:
        sends = [
            workflow.get_external_workflow_handle(a.enrollment_id).signal(SIGNAL_EVENT, event)
            for a in active
        ]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        for enrollment, outcome in zip(active, outcomes, strict=True):
            if isinstance(outcome, ApplicationError):
                self._completed(enrollment)  # before its end signal reached us

    def _completed(self, active: ActiveEnrollment) -> None:
        self.ended(
            EnrollmentEnded(
                enrollment_id=active.enrollment_id,
                automation_id=active.automation_id,
                status="completed",
            )
        )
