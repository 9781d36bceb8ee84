"""ContactWorkflowV2: one per contact (entity pattern); the router behind R1 (docs/automations.md).

Enrollments and events for a contact go through its workflow, in one queue, processed in order:
an enrollment accepted before an event is started before that event is forwarded, so no event
accepted after an enrollment can miss it. Event ids are deduplicated on acceptance. The state
lives in one model that continue-as-new carries over.

The workflow only wires the pieces: the ordered queue (workflows/contact_queue.py), the seen
event ids (workflows/seen_event_ids.py), the profile changes (workflows/contact_profile.py), the
enrollments it starts and forwards events to (workflows/contact_enrollments.py) and the triggers
(workflows/contact_triggers.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from workflows.contact_budget import SendBudget
from workflows.contact_enrollments import Enrollments
from workflows.contact_profile import ProfileChanges
from workflows.contact_queue import OrderedQueue
from workflows.contact_triggers import Triggers, matching

with workflow.unsafe.imports_passed_through():
    from workflows.budget import (
        SIGNAL_SEND_RECORDED,
        UPDATE_GRANT_SEND,
        GrantAnswer,
        GrantRequest,
        SentRecord,
    )
    from workflows.events import ContactEvent
    from workflows.limits import (
        after_enroll,
        after_save,
        after_tags,
        enrollment_refusal,
        growth_refusal,
    )
    from workflows.messages import (
        SIGNAL_ENROLLMENT_ENDED,
        SIGNAL_STEP_CHANGE,
        ContactSnapshot,
        ContactState,
        ContactView,
        EnrollmentEnded,
        EnrollOp,
        EnrollRequest,
        EnrollResult,
        EventBatch,
        EventBatchReceipt,
        EventOp,
        EventReceipt,
        ProfileSave,
        ProfileSaved,
        ProfileSaveOp,
        QueuedOp,
        StepChange,
        StepChangeOp,
        TagChange,
        TagChangeResult,
        TagsOp,
        contact_workflow_id,
    )
    from workflows.patches import (
        CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES,
        CONTACT_BOUNDS_PROFILE,
        CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW,
        TAGS_ANY_CASE,
    )
    from workflows.seen_event_ids import SeenEventIds

# A run due to continue as new hands its backlog of events to the next run (patch
# "contact-carries-backlog-across-continue-as-new") as long as it stays well inside Temporal's
# 2 MB limit for the new run's input.
MAX_CARRIED_BYTES = 512 * 1024
# Counted in bytes of UTF-8 (runs before the patch "contact-bounds-profile" counted characters,
# up to four bytes each) and half as much, so that the whole state handed over stays well under
# 2 MB at its worst (tests/test_limits.py).
MAX_CARRIED_UTF8 = 256 * 1024


@workflow.defn
class ContactWorkflowV2:
    """The contact as it is started now. Every change made to the contact's commands since its
    first type, ContactWorkflow (workflows/v1_types.py), is built in: no patch markers;
    EnrollmentWorkflowV2 children, started with their first stop in their search attributes. A
    type of its own, so that no worker running older code ever runs one; a contact continues as
    new as the type it is."""

    # False in the first type, whose histories hold the patches: `workflow.patched` asks them.
    ALL_PATCHES_BUILT_IN: ClassVar[bool] = True
    # The enrollment type this contact starts (the first type starts the first type).
    # The child type, by name: the sandbox then need not execute the enrollment's module for
    # every contact it loads.
    ENROLLMENT: ClassVar[str] = "EnrollmentWorkflowV2"

    @workflow.init
    def __init__(self, state: ContactState) -> None:
        self.state = state
        self.queue = OrderedQueue()
        self.ops_done = 0
        self.seen = SeenEventIds(state)
        self.profile = ProfileChanges(state, self._tags_any_case)
        self.enrollments = Enrollments(
            state, self.profile, self.ENROLLMENT, self.ALL_PATCHES_BUILT_IN, self._patched
        )
        self.triggers = Triggers(state.contact_id, self.enrollments.enroll, self._patched)
        self.budget = SendBudget(state)
        for work in state.pending:
            self.queue.push(work)
        state.pending = []

    @workflow.run
    async def run(self, state: ContactState) -> ContactView:
        while True:
            idle = timedelta(seconds=self.state.idle_seconds) if self._forgettable() else None
            try:
                await workflow.wait_condition(
                    lambda: bool(self.queue) or self._should_continue_as_new(),
                    timeout=idle,
                    timeout_summary="idle",
                )
            except TimeoutError:
                # Nothing to remember and no traffic: complete, once no handler is mid-flight
                # (a signal that races the completion makes Temporal retry the task with it).
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self.queue and self._forgettable():
                    return self.view()
                continue
            while self.queue:
                if self._should_continue_as_new() and self._may_carry_queue():
                    break
                seq, op = self.queue.pop()
                try:
                    self.queue.answer(seq, await self._process(op))
                except ApplicationError as refused:
                    # Deliberate refusals (re-entry) answer the update; they do not stop us.
                    self.queue.answer(seq, refused)
                self.ops_done += 1
            if self._should_continue_as_new():
                await self.enrollments.hand_over_watched()
                # Handlers still running finish first; work someone waits on (an enrollment,
                # a tag change) that arrives meanwhile is done in this run, so waiting on the
                # handlers never waits on the queue.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or self.queue.awaited > 0
                )
                if self.queue and not self._may_carry_queue():
                    continue
                self.state.pending = self.queue.carried()
                self.state.recent_event_ids = self.seen.carried()
                workflow.continue_as_new(self.state)

    # --- updates, signals, queries ----------------------------------------------------------

    @workflow.update
    async def enroll(self, request: EnrollRequest) -> EnrollResult:
        result: EnrollResult = await self.queue.enqueue(EnrollOp(enroll=request))
        return result

    @enroll.validator
    def _enroll_fits(self, request: EnrollRequest) -> None:
        """A refused enrollment never reaches the history (validators add nothing to it); the
        merge checks again, for what was queued ahead of it."""
        if any(a.automation_id == request.automation_id for a in self.state.active) or any(
            r.request_id == request.request_id for r in self.state.enroll_receipts
        ):
            return  # answered without merging anything
        state = self.state
        error = enrollment_refusal(
            len(state.active), state.enrollment_counts, request.automation_id
        ) or growth_refusal(state.profile, after_enroll(state.profile, request.contact))
        if error is not None:
            raise error

    @workflow.update
    def accept_event(self, event: ContactEvent) -> EventReceipt:
        """Accept an event; it is durable once this update completes. Forwarding follows."""
        return self._accept(event)

    @workflow.update
    def accept_events(self, batch: EventBatch) -> EventBatchReceipt:
        """Accept several events in one update, in order, each exactly as `accept_event` would:
        one workflow task and one pair of history events for the lot instead of per event."""
        return EventBatchReceipt(receipts=[self._accept(event) for event in batch.events])

    @workflow.update
    async def change_tags(self, change: TagChange) -> TagChangeResult:
        if not self.seen.remember(change.id):
            return TagChangeResult(
                contact_id=self.state.contact_id, added=[], removed=[], duplicate=True
            )
        result: TagChangeResult = await self.queue.enqueue(TagsOp(tags=change))
        return result

    @change_tags.validator
    def _tags_fit(self, change: TagChange) -> None:
        profile = self.state.profile
        error = growth_refusal(profile, after_tags(profile, change.add, change.remove))
        if error is not None:
            raise error

    @workflow.update
    async def save_profile(self, save: ProfileSave) -> ProfileSaved:
        result: ProfileSaved = await self.queue.enqueue(ProfileSaveOp(profile=save))
        return result

    @save_profile.validator
    def _profile_fits(self, save: ProfileSave) -> None:
        error = growth_refusal(self.state.profile, after_save(self.state.profile, save))
        if error is not None:
            raise error

    @workflow.signal(name=SIGNAL_STEP_CHANGE)
    def step_change(self, change: StepChange) -> None:
        if self.seen.remember(change.id):
            self.queue.push(StepChangeOp(step_change=change))

    @workflow.signal(name=SIGNAL_ENROLLMENT_ENDED)
    def enrollment_ended(self, ended: EnrollmentEnded) -> None:
        self.enrollments.ended(ended)

    @workflow.update(name=UPDATE_GRANT_SEND)
    def grant_send(self, request: GrantRequest) -> GrantAnswer:
        """R20: a normal send asks for a slot of the contact's budget; decided at once, in the
        order the requests are accepted (not behind the queue)."""
        return self.budget.grant(request, workflow.now())

    @workflow.signal(name=SIGNAL_SEND_RECORDED)
    def send_recorded(self, sent: SentRecord) -> None:
        """R20: a transactional send, counted without asking."""
        self.budget.record(sent, workflow.now())

    @workflow.query
    def view(self) -> ContactView:
        return ContactView(
            contact_id=self.state.contact_id,
            **self.state.profile.model_dump(exclude={"id"}),
            active_enrollments=self.state.active,
            enrollment_counts=self.state.enrollment_counts,
            events_seen=self.state.events_seen,
        )

    @workflow.query
    def kept_events(self) -> list[ContactEvent]:
        """The events the contact keeps (R15), oldest first: what explain reads."""
        return list(self.state.memory.events)

    def _accept(self, event: ContactEvent) -> EventReceipt:
        duplicate = not self.seen.remember(event.id)
        if not duplicate:
            if event.accepted_at is None:
                event.accepted_at = workflow.now()
            self.queue.push(EventOp(event=event))
        return EventReceipt(
            event_id=event.id, contact_id=self.state.contact_id, duplicate=duplicate
        )

    # --- processing, in order ---------------------------------------------------------------

    async def _process(self, op: QueuedOp) -> Any:
        any_case = self._tags_any_case
        match op:
            case EnrollOp(enroll=request):
                return await self.enrollments.enroll(request, asked=True)
            case EventOp(event=event):
                self.profile.apply_event(event)
                await self._publish([event], made_here=False)
                return None
            case TagsOp(tags=change):
                try:
                    added, removed, events = self.profile.change_tags(change)
                except ApplicationError:
                    self.seen.forget(change.id)  # refused, not done: the same id may come again
                    raise
                await self._publish(matching(events, change.triggers, any_case))
                return TagChangeResult(
                    contact_id=self.state.contact_id, added=added, removed=removed
                )
            case StepChangeOp(step_change=change):
                events = self.profile.step_change(change)
                # Changes made by automations may trigger others: ask the worker's copy of the
                # trigger set, once for the lot.
                if events and self._patched(CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES):
                    for event, found in zip(events, await self.triggers.match(events), strict=True):
                        event.triggers = found
                await self._publish(events)
                return None
            case ProfileSaveOp(profile=save):
                created, changed, events = self.profile.save(save)
                await self._publish(matching(events, save.triggers, any_case))
                return ProfileSaved(
                    contact_id=self.state.contact_id, created=created, changed=changed
                )

    async def _publish(self, events: list[ContactEvent], *, made_here: bool = True) -> None:
        """Forward each event to the active enrollments, then enroll through the triggers it
        matched (R14): in order, and after the forwarding, so that a triggered enrollment does
        not see the event that started it."""
        for event in events:
            if made_here:
                self.seen.remember(event.id)
            await self.enrollments.forward(event)
            if event.triggers:
                await self.triggers.fire(event, event.triggers)

    # --- when to complete or continue as new ------------------------------------------------

    def _forgettable(self) -> bool:
        """A contact with nothing worth keeping may complete when idle."""
        state = self.state
        return not (state.active or state.enrollment_counts) and self.profile.forgettable()

    def _may_carry_queue(self) -> bool:
        """Whether the queue can go to the next run as it is: nothing in it has a caller
        waiting for its answer in this run, and it is small enough.

        Events can arrive faster than they are forwarded; a run that waited for an empty queue
        might never continue as new, and past Temporal's 2,000 updates per run every further
        event would be refused. Runs recorded before this patch never carry."""
        if not self.queue:
            return True
        if self.queue.awaited or self.queue.chars > MAX_CARRIED_BYTES:
            return False
        if self.queue.utf8 > MAX_CARRIED_UTF8 and workflow.patched(CONTACT_BOUNDS_PROFILE):
            return False  # bytes, not characters: the 2 MB limit counts bytes
        return self._patched(CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW)

    def _should_continue_as_new(self) -> bool:
        limit = self.state.continue_as_new_after_ops
        if limit is not None and self.ops_done >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()

    def _patched(self, patch_id: str) -> bool:
        return self.ALL_PATCHES_BUILT_IN or workflow.patched(patch_id)

    def _tags_any_case(self) -> bool:
        # Asked only when a tag differs from another but for case (workflows/tags.py); a patch
        # of every type, V2 included, since it came after them.
        return workflow.patched(TAGS_ANY_CASE)


def contact_start(
    contact_id: str, task_queue: str, state: ContactState | None = None
) -> WithStartWorkflowOperation[ContactWorkflowV2, ContactView]:
    """How every caller (the API, the bulk activity, the tests) reaches a contact's workflow:
    update-with-start on its id, starting it with an empty profile if it is not running."""
    return WithStartWorkflowOperation(
        ContactWorkflowV2.run,
        state or ContactState(contact_id=contact_id, profile=ContactSnapshot(id=contact_id)),
        id=contact_workflow_id(contact_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"contact {contact_id}",
    )
