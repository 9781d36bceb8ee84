"""ContactWorkflowV2: one per contact (entity pattern); the router behind R1 (docs/automations.md).

Enrollments and events for a contact go through its workflow, in one queue, processed in order:
an enrollment accepted before an event is started before that event is forwarded, so no event
accepted after an enrollment can miss it. Event ids are deduplicated on acceptance. The state
lives in one model that continue-as-new carries over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.conditions import json_equal
    from workflows.enrollment import EnrollmentWorkflowV2, first_stop
    from workflows.events import MAX_TRIGGER_DEPTH, ContactEvent, TriggerMatch
    from workflows.limits import (
        TOO_MANY_ENROLLMENTS,
        after_enroll,
        after_fields,
        after_save,
        after_tags,
        dedupe_key,
        enrollment_refusal,
        event_refusal,
        forward_parts,
        growth_refusal,
        json_bytes,
    )
    from workflows.matching import triggers_met_by
    from workflows.messages import (
        MATCH_TRIGGERS,
        REENTRY_REFUSED,
        SIGNAL_ENROLLMENT_ENDED,
        SIGNAL_EVENT,
        SIGNAL_REPORT_END,
        SIGNAL_STEP_CHANGE,
        SIGNAL_TRIGGER_OUTCOME,
        ActiveEnrollment,
        ContactProfile,
        ContactSnapshot,
        ContactState,
        ContactView,
        EnrollmentEnded,
        EnrollmentInput,
        EnrollReceipt,
        EnrollRequest,
        EnrollResult,
        EventBatch,
        EventBatchReceipt,
        EventReceipt,
        MatchTriggersRequest,
        MatchTriggersResult,
        PendingWork,
        ProfileSave,
        ProfileSaved,
        QueuedOp,
        StepChange,
        TagChange,
        TagChangeResult,
        TriggerCause,
        TriggerOutcome,
        TriggerRefusal,
        automation_workflow_id,
        contact_workflow_id,
        enrollment_workflow_id,
    )
    from workflows.patches import (
        CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES,
        CONTACT_BOUNDS_PROFILE,
        CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW,
        CONTACT_ENROLLS_ON_TRIGGERS,
        CONTACT_FORWARDS_IN_PARTS,
        CONTACT_LEARNS_END_FROM_CHILD_COMPLETION,
        TAGS_ANY_CASE,
    )
    from workflows.recall import recall, remember
    from workflows.search_attributes import AUTOMATION_ID, CONTACT_ID, REACHED, STEP, VERSION
    from workflows.tags import AnyCase, add_tags, remove_tags, tag_diff

# Event ids remembered per contact for deduplication (R10), carried across continue-as-new.
DEDUPE_MEMORY = 10_000
# Enroll request ids remembered per contact (a bulk job's rows), likewise.
ENROLL_RECEIPTS = 100
# A run due to continue as new hands its backlog of events to the next run (patch
# "contact-carries-backlog-across-continue-as-new") as long as it stays well inside Temporal's
# 2 MB limit for the new run's input.
MAX_CARRIED_BYTES = 512 * 1024
# Counted in bytes of UTF-8 (runs before the patch "contact-bounds-profile" counted characters,
# up to four bytes each) and half as much, so that the whole state handed over stays well under
# 2 MB at its worst (tests/test_limits.py).
MAX_CARRIED_UTF8 = 256 * 1024
# A triggered enrollment's context is the event's data plus the trigger's ids, if it fits in
# this many bytes of JSON (as an API-given context must); else only the ids.
MAX_CONTEXT_BYTES = 16 * 1024
# Asking the worker's trigger cache which triggers the contact's own events match (tag changes
# made by automations) must not hold the contact's queue for long: on failure, no trigger fires.
MATCH_RETRY = RetryPolicy(maximum_attempts=3)


def _carried(work: PendingWork) -> Callable[[int], QueuedOp]:
    return lambda seq: QueuedOp(seq=seq, event=work.event, step_change=work.step_change)


@workflow.defn
class ContactWorkflowV2:
    """The contact as it is started now. Every change made to the contact's commands since its
    first type, ContactWorkflow (workflows/first_types.py), is built in: no patch markers;
    EnrollmentWorkflowV2 children, started with their first stop in their search attributes. A
    type of its own, so that no worker running older code ever runs one; a contact continues as
    new as the type it is."""

    # False in the first type, whose histories hold the patches: `workflow.patched` asks them.
    ALL_PATCHES_BUILT_IN: ClassVar[bool] = True
    # The enrollment type this contact starts (the first type starts the first type).
    ENROLLMENT: ClassVar[type[EnrollmentWorkflowV2]] = EnrollmentWorkflowV2

    @workflow.init
    def __init__(self, state: ContactState) -> None:
        self.state = state
        self.queue: list[QueuedOp] = []
        self.results: dict[int, Any] = {}
        self.next_seq = 0
        self.ops_done = 0
        self.seen = set(state.recent_event_ids)
        # What is queued, for deciding whether the queue can go to the next run.
        self.queued_awaited = 0
        self.queued_bytes = 0
        self.queued_utf8 = 0
        # Enrollments this run started and learns the end of from their completion: the next
        # run is not their parent, so none is carried over (see _hand_over_watched).
        self.watched: dict[str, asyncio.Task[None]] = {}
        for work in state.pending:
            self._push(_carried(work))
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
                op = self._pop()
                try:
                    self.results[op.seq] = await self._process(op)
                except ApplicationError as refused:
                    # Deliberate refusals (re-entry) answer the update; they do not stop us.
                    self.results[op.seq] = refused
                self.ops_done += 1
            if self._should_continue_as_new():
                await self._hand_over_watched()
                # Handlers still running finish first; work someone waits on (an enrollment,
                # a tag change) that arrives meanwhile is done in this run, so waiting on the
                # handlers never waits on the queue.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or self.queued_awaited > 0
                )
                if self.queue and not self._may_carry_queue():
                    continue
                self.state.pending = [
                    PendingWork(event=op.event, step_change=op.step_change) for op in self.queue
                ]
                self.state.recent_event_ids = self.state.recent_event_ids[-DEDUPE_MEMORY:]
                workflow.continue_as_new(self.state)

    # --- updates, signals, queries ----------------------------------------------------------

    @workflow.update
    async def enroll(self, request: EnrollRequest) -> EnrollResult:
        result: EnrollResult = await self._enqueue(lambda seq: QueuedOp(seq=seq, enroll=request))
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
        if not self._remember(change.id):
            return TagChangeResult(
                contact_id=self.state.contact_id, added=[], removed=[], duplicate=True
            )
        result: TagChangeResult = await self._enqueue(lambda seq: QueuedOp(seq=seq, tags=change))
        return result

    @change_tags.validator
    def _tags_fit(self, change: TagChange) -> None:
        profile = self.state.profile
        error = growth_refusal(profile, after_tags(profile, change.add, change.remove))
        if error is not None:
            raise error

    @workflow.update
    async def save_profile(self, save: ProfileSave) -> ProfileSaved:
        result: ProfileSaved = await self._enqueue(lambda seq: QueuedOp(seq=seq, profile=save))
        return result

    @save_profile.validator
    def _profile_fits(self, save: ProfileSave) -> None:
        error = growth_refusal(self.state.profile, after_save(self.state.profile, save))
        if error is not None:
            raise error

    @workflow.signal(name=SIGNAL_STEP_CHANGE)
    def step_change(self, change: StepChange) -> None:
        if self._remember(change.id):
            self._push(lambda seq: QueuedOp(seq=seq, step_change=change))

    @workflow.signal(name=SIGNAL_ENROLLMENT_ENDED)
    def enrollment_ended(self, ended: EnrollmentEnded) -> None:
        self.state.active = [a for a in self.state.active if a.enrollment_id != ended.enrollment_id]

    @workflow.query
    def view(self) -> ContactView:
        profile = self.state.profile
        return ContactView(
            contact_id=self.state.contact_id,
            email=profile.email,
            phone=profile.phone,
            first_name=profile.first_name,
            last_name=profile.last_name,
            tags=profile.tags,
            fields=profile.fields,
            unsubscribed=profile.unsubscribed,
            sms_unsubscribed=profile.sms_unsubscribed,
            active_enrollments=self.state.active,
            enrollment_counts=self.state.enrollment_counts,
            events_seen=self.state.events_seen,
        )

    def _accept(self, event: ContactEvent) -> EventReceipt:
        duplicate = not self._remember(event.id)
        if not duplicate:
            if event.accepted_at is None:
                event.accepted_at = workflow.now()
            self._push(lambda seq: QueuedOp(seq=seq, event=event))
        return EventReceipt(
            event_id=event.id, contact_id=self.state.contact_id, duplicate=duplicate
        )

    # --- processing, in order ---------------------------------------------------------------

    async def _process(self, op: QueuedOp) -> Any:
        if op.enroll is not None:
            return await self._enroll(op.enroll)
        if op.event is not None:
            if not self._too_large(event_refusal(self.state.profile, op.event)):
                self.state.profile.apply_event(op.event, self._tags_any_case)
            await self._publish([op.event], made_here=False)
            return None
        if op.tags is not None:
            try:
                self._refuse(after_tags(self.state.profile, op.tags.add, op.tags.remove))
            except ApplicationError:
                self._forget(op.tags.id)  # refused, not done: the same id may come again
                raise
            added, removed, events = self._tag_changes(op.tags.id, op.tags.add, op.tags.remove, 0)
            await self._publish(_matching(events, op.tags.triggers, self._tags_any_case))
            return TagChangeResult(contact_id=self.state.contact_id, added=added, removed=removed)
        if op.step_change is not None:
            profile = self.state.profile
            change = op.step_change
            add = change.add_tags
            if self._too_large(
                growth_refusal(profile, after_tags(profile, add, change.remove_tags))
            ):
                add = []  # what no caller waits on is left out: the step said so already
            _, _, events = self._tag_changes(change.id, add, change.remove_tags, change.depth)
            if change.fields and self._too_large(
                growth_refusal(profile, after_fields(profile, change.fields))
            ):
                change = change.model_copy(update={"fields": {}})
            if change.fields:
                changed = self._set_fields(change.fields)
                data = {"fields": change.fields, "changed": list(changed)}
                events.append(
                    self._event(f"{change.id}:fields", "contact.updated", data, change.depth)
                )
            # Changes made by automations may trigger others: ask the worker's copy of the
            # trigger set, once for the lot.
            if events and self._patched(CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES):
                for event, matches in zip(events, await self._match_triggers(events), strict=True):
                    event.triggers = matches
            await self._publish(events)
            return None
        if op.profile is not None:
            return await self._save_profile(op.profile)
        return None

    async def _save_profile(self, save: ProfileSave) -> ProfileSaved:
        """`PUT /v1/contacts/{id}`: the first save is `contact.created`, a later one that
        changed something `contact.updated` with `data.changed`; tag changes are tag events."""
        profile = self.state.profile
        self._refuse(after_save(profile, save))
        created = not self.state.profile_saved
        self.state.profile_saved = True
        changed: list[str] = []
        attributes: dict[str, Any] = {}
        for name in ("email", "phone", "first_name", "last_name"):
            value = getattr(save, name)
            if value is not None and getattr(profile, name) != value:
                setattr(profile, name, value)
                attributes[name] = value
                changed.append(name)
        fields = dict(save.fields or {})
        if save.timezone is not None:
            fields["timezone"] = save.timezone
        field_changes = self._set_fields(fields)
        changed += field_changes
        add: list[str] = []
        remove: list[str] = []
        if save.tags is not None:
            add, remove = tag_diff(profile.tags, save.tags, self._tags_any_case)
        _, _, tag_events = self._tag_changes(save.id, add, remove, 0)
        if tag_events:
            changed.append("tags")
        events: list[ContactEvent] = []
        if created:
            data = {**profile.model_dump(exclude={"id", "unsubscribed"})}
            events.append(self._event(f"{save.id}:created", "contact.created", data, 0))
        elif changed:
            data = {"changed": changed, "fields": field_changes, "profile": attributes}
            events.append(self._event(f"{save.id}:updated", "contact.updated", data, 0))
        await self._publish(_matching([*events, *tag_events], save.triggers, self._tags_any_case))
        return ProfileSaved(contact_id=self.state.contact_id, created=created, changed=changed)

    def _set_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Merge custom fields into the profile; those whose value changed."""
        current = self.state.profile.fields
        changes = {
            key: value
            for key, value in fields.items()
            if key not in current or not json_equal(current[key], value)
        }
        current.update(changes)
        return changes

    async def _publish(self, events: list[ContactEvent], *, made_here: bool = True) -> None:
        """Forward each event to the active enrollments, then enroll through the triggers it
        matched (R14): in order, and after the forwarding, so that a triggered enrollment does
        not see the event that started it."""
        for event in events:
            if made_here:
                self._remember(event.id)
            await self._forward(event)
            if event.triggers:
                await self._fire_triggers(event, event.triggers)

    async def _enroll(self, request: EnrollRequest) -> EnrollResult:
        """A request with an id seen before gets its first answer: a bulk batch retried after a
        crash must neither enroll the contact twice nor count it as existing."""
        receipts = self.state.enroll_receipts
        if request.request_id is not None:
            for receipt in receipts:
                if receipt.request_id == request.request_id:
                    return receipt.result
        result = await self._start_enrollment(request)
        if result.created:
            workflow.metric_meter().create_counter(
                "goalflow_enrollments_started", "enrollments started by contact workflows"
            ).add(1, {"automation_id": request.automation_id})
        if request.request_id is not None:
            receipts.append(EnrollReceipt(request_id=request.request_id, result=result))
            del receipts[:-ENROLL_RECEIPTS]
        return result

    async def _start_enrollment(self, request: EnrollRequest) -> EnrollResult:
        contact_id = self.state.contact_id
        for active in self.state.active:
            if active.automation_id == request.automation_id:
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
        if refused is not None and self._too_large(refused):
            raise refused
        self._refuse(after_enroll(self.state.profile, request.contact))
        self._merge_profile(request)
        number = previous + 1
        enrollment_id = enrollment_workflow_id(request.automation_id, contact_id, number)
        # Free at start, where an upsert is a billable action: the first step, or (V2) the
        # first place the enrollment can stop, which it then need not write.
        steps = request.automation.steps
        reached = first_stop(steps) if self.ALL_PATCHES_BUILT_IN else [steps[0].id]
        attributes = (
            TypedSearchAttributes(
                [
                    SearchAttributePair(CONTACT_ID, contact_id),
                    SearchAttributePair(AUTOMATION_ID, request.automation_id),
                    SearchAttributePair(STEP, reached[-1]),
                    SearchAttributePair(VERSION, request.version),
                    SearchAttributePair(REACHED, reached),
                ]
            )
            if request.search_attributes
            else None
        )
        # The end of the enrollment is in this history anyway (the child's completion): no need
        # for a signal, a billable action and five history events.
        watched = self._patched(CONTACT_LEARNS_END_FROM_CHILD_COMPLETION)
        child = await workflow.start_child_workflow(
            self.ENROLLMENT.run,
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

    def _watch(self, child: ChildWorkflowHandle[Any, Any], active: ActiveEnrollment) -> None:
        async def watch() -> None:
            try:
                status = (await child).status
            except ChildWorkflowError:  # terminated, timed out or failed: ended all the same
                status = "failed"
            self.watched.pop(active.enrollment_id, None)
            self.enrollment_ended(
                EnrollmentEnded(
                    enrollment_id=active.enrollment_id,
                    automation_id=active.automation_id,
                    status=status,
                )
            )

        self.watched[active.enrollment_id] = asyncio.create_task(watch())

    async def _hand_over_watched(self) -> None:
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
                self.enrollment_ended(
                    EnrollmentEnded(
                        enrollment_id=active.enrollment_id,
                        automation_id=active.automation_id,
                        status="completed",
                    )
                )

    def _tag_changes(
        self, change_id: str, add: list[str], remove: list[str], depth: int
    ) -> tuple[list[str], list[str], list[ContactEvent]]:
        """Apply tag changes; each real change becomes an event like any other."""
        tags = self.state.profile.tags
        added = add_tags(tags, add, self._tags_any_case)
        removed = remove_tags(tags, remove, self._tags_any_case)
        events = [
            self._event(f"{change_id}:add:{tag}", "contact.tag_added", {"tag": tag}, depth)
            for tag in added
        ] + [
            self._event(f"{change_id}:remove:{tag}", "contact.tag_removed", {"tag": tag}, depth)
            for tag in removed
        ]
        return added, removed, events

    def _event(
        self, event_id: str, event_type: str, data: dict[str, Any], depth: int
    ) -> ContactEvent:
        return ContactEvent.model_validate(
            {
                "id": event_id,
                "contact_id": self.state.contact_id,
                "type": event_type,
                "accepted_at": workflow.now(),
                "data": data,
                "depth": depth,
            }
        )

    async def _match_triggers(self, events: list[ContactEvent]) -> list[list[TriggerMatch]]:
        """The triggers each event matches, from the worker's cached trigger set (a local
        activity: one marker, no task dispatch). If the cache cannot answer, none fire."""
        try:
            result = await workflow.execute_local_activity(
                MATCH_TRIGGERS,
                MatchTriggersRequest(events=events),
                result_type=MatchTriggersResult,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=MATCH_RETRY,
                summary="match triggers",
            )
        except ActivityError:
            workflow.logger.warning("trigger set unavailable; no trigger fires for these events")
            return [[] for _ in events]
        return result.matches

    async def _fire_triggers(self, event: ContactEvent, matches: list[TriggerMatch]) -> None:
        """R14: enroll the contact into each automation whose trigger the event matched, right
        after the event was forwarded (the new enrollment does not see it), exactly as an
        enroll request would (R13); a refusal is counted, not an error."""
        if not self._patched(CONTACT_ENROLLS_ON_TRIGGERS):
            return
        for match in matches:
            refused: TriggerRefusal | None = None
            if match.paused:
                refused = "paused"
            elif event.depth > MAX_TRIGGER_DEPTH:
                refused = "chain_cut"
                workflow.logger.warning(
                    "trigger chain cut",
                    extra={"event_id": event.id, "automation_id": match.automation_id},
                )
            else:
                request = EnrollRequest(
                    automation_id=match.automation_id,
                    version=match.version,
                    automation=match.definition,
                    contact=ContactProfile(id=self.state.contact_id),
                    search_attributes=match.search_attributes,
                    context=_trigger_context(event, match.trigger_id),
                    report_outcomes=match.report_outcomes,
                    trigger=TriggerCause(
                        trigger_id=match.trigger_id, event_id=event.id, depth=event.depth
                    ),
                )
                try:
                    result = await self._enroll(request)
                except ApplicationError as err:
                    refused = "limit" if err.type == TOO_MANY_ENROLLMENTS else "reentry"
                else:
                    refused = None if result.created else "active"
            outcome = TriggerOutcome(
                trigger_id=match.trigger_id, started=refused is None, refused=refused
            )
            workflow.metric_meter().create_counter(
                "goalflow_trigger_outcomes", "triggers that matched an event, by outcome"
            ).add(
                1,
                {
                    "automation_id": match.automation_id,
                    "trigger_id": match.trigger_id,
                    "outcome": refused or "started",
                },
            )
            try:
                await workflow.get_external_workflow_handle(
                    automation_workflow_id(match.automation_id)
                ).signal(SIGNAL_TRIGGER_OUTCOME, outcome)
            except ApplicationError:
                workflow.logger.warning("automation workflow gone; trigger outcome not counted")

    async def _forward(self, event: ContactEvent) -> None:
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
                # The enrollment completed before its end signal reached us.
                self.enrollment_ended(
                    EnrollmentEnded(
                        enrollment_id=enrollment.enrollment_id,
                        automation_id=enrollment.automation_id,
                        status="completed",
                    )
                )

    # --- state helpers ----------------------------------------------------------------------

    def _merge_profile(self, request: EnrollRequest) -> None:
        profile = self.state.profile
        given = request.contact
        for name in ("email", "phone", "first_name", "last_name"):
            value = getattr(given, name)
            if value is not None:
                setattr(profile, name, value)
        profile.fields.update(given.fields)
        add_tags(profile.tags, given.tags, self._tags_any_case)

    def _remember(self, event_id: str) -> bool:
        """Record an event id (its `dedupe_key`); False when it was seen before (runs before
        the keys kept some long ids as they are)."""
        key = dedupe_key(event_id)
        if key in self.seen or event_id in self.seen:
            return False
        self.seen.add(key)
        self.state.recent_event_ids.append(key)
        if len(self.state.recent_event_ids) > DEDUPE_MEMORY * 2:
            forget = self.state.recent_event_ids[:-DEDUPE_MEMORY]
            self.state.recent_event_ids = self.state.recent_event_ids[-DEDUPE_MEMORY:]
            self.seen.difference_update(forget)
        return True

    def _forget(self, event_id: str) -> None:
        key = dedupe_key(event_id)
        self.seen.discard(key)
        if key in self.state.recent_event_ids:
            self.state.recent_event_ids.remove(key)

    def _push(self, make: Callable[[int], QueuedOp]) -> int:
        seq = self.next_seq
        self.next_seq += 1
        op = make(seq)
        self.queue.append(op)
        self._count(op, 1)
        return seq

    def _pop(self) -> QueuedOp:
        op = self.queue.pop(0)
        self._count(op, -1)
        return op

    def _count(self, op: QueuedOp, sign: int) -> None:
        if op.enroll is not None or op.tags is not None or op.profile is not None:
            self.queued_awaited += sign
        elif (work := op.event or op.step_change) is not None:
            text = work.model_dump_json()
            self.queued_bytes += sign * len(text)  # characters, as runs before counted
            self.queued_utf8 += sign * len(text.encode("utf-8", "surrogatepass"))

    async def _enqueue(self, make: Callable[[int], QueuedOp]) -> Any:
        seq = self._push(make)
        await workflow.wait_condition(lambda: seq in self.results)
        result = self.results.pop(seq)
        if isinstance(result, ApplicationError):
            raise result
        return result

    def _forgettable(self) -> bool:
        """A contact with nothing worth keeping may complete when idle."""
        profile = self.state.profile
        return not (
            self.state.active
            or self.state.enrollment_counts
            or profile.tags
            or profile.fields
            or profile.unsubscribed
            or profile.sms_unsubscribed
        )

    def _may_carry_queue(self) -> bool:
        """Whether the queue can go to the next run as it is: nothing in it has a caller
        waiting for its answer in this run, and it is small enough.

        Events can arrive faster than they are forwarded; a run that waited for an empty queue
        might never continue as new, and past Temporal's 2,000 updates per run every further
        event would be refused. Runs recorded before this patch never carry."""
        if not self.queue:
            return True
        if self.queued_awaited or self.queued_bytes > MAX_CARRIED_BYTES:
            return False
        if self.queued_utf8 > MAX_CARRIED_UTF8 and workflow.patched(CONTACT_BOUNDS_PROFILE):
            return False  # bytes, not characters: the 2 MB limit counts bytes
        return self._patched(CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW)

    def _too_large(self, error: ApplicationError | None) -> bool:
        """Whether a change that `error` refuses is left out. Runs recorded before the bounds
        (no marker) took such changes: they replay as they ran."""
        return error is not None and workflow.patched(CONTACT_BOUNDS_PROFILE)

    def _refuse(self, after: ContactSnapshot) -> None:
        """Refuse (an update's answer, 422 at the API) a change that would leave the profile as
        `after`, past its bounds (workflows/limits.py)."""
        error = growth_refusal(self.state.profile, after)
        if error is not None and self._too_large(error):
            raise error

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


def _matching(
    events: list[ContactEvent], candidates: dict[str, list[TriggerMatch]], any_case: AnyCase
) -> list[ContactEvent]:
    """Attach to each event the candidates (automations with a trigger on its type) whose
    triggers it matches, with the first matching trigger's id."""
    for event in events:
        event.triggers = [
            candidate.model_copy(update={"trigger_id": found[0]})
            for candidate in candidates.get(event.type, [])
            if (
                found := triggers_met_by(
                    candidate.definition, event, candidate.automation_id, any_case
                )
            )
        ]
    return events


def _trigger_context(event: ContactEvent, trigger_id: str) -> dict[str, Any]:
    ids = {"trigger_event_id": event.id, "trigger_id": trigger_id}
    context = {**event.data, **ids}
    if len(json.dumps(context, default=str)) > MAX_CONTEXT_BYTES:
        return {**ids, "data_omitted": True}
    return context


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
