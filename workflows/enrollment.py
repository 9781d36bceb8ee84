"""EnrollmentWorkflowV2: one contact going through one version of one automation.

An interpreter over the definition snapshot it was started with (R12). Events arrive from the
contact workflow as signals, in acceptance order (R1); goal matches set a pending move that cuts
waits short and follows actions in flight (R3). Cancellation (R11) is Temporal's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from workflows.conditions import condition_holds
    from workflows.definition import (
        AddTagStep,
        EndStep,
        GoalStep,
        IfElseStep,
        IfUnmetContinue,
        IfUnmetEnd,
        IfUnmetWait,
        OnMetEnd,
        OnMetGoto,
        RemoveTagStep,
        SendEmailStep,
        SendSmsStep,
        Step,
        UpdateContactStep,
        WaitStep,
        WebhookStep,
    )
    from workflows.durations import parse_duration
    from workflows.events import ContactEvent
    from workflows.limits import (
        MAX_TIMELINE_BYTES,
        bounded_detail,
        event_refusal,
        json_bytes,
        step_refusal,
    )
    from workflows.matching import goals_met_by
    from workflows.messages import (
        SEND_EMAIL,
        SEND_SMS,
        SEND_WEBHOOK,
        SIGNAL_ENROLLMENT_ENDED,
        SIGNAL_EVENT,
        SIGNAL_REPORT_END,
        SIGNAL_STEP_CHANGE,
        SMS_REJECTED,
        SMTP_REJECTED,
        WEBHOOK_REJECTED,
        ContactSnapshot,
        DeliveryResult,
        EmailRequest,
        EnrollmentEnded,
        EnrollmentInput,
        EnrollmentProgress,
        EnrollmentStatus,
        EnrollmentView,
        GoalStatus,
        SmsRequest,
        StepChange,
        StepContext,
        TimelineEntry,
        TimelineKind,
        Waiting,
        WebhookRequest,
        WebhookResult,
    )
    from workflows.schedule import next_clock_time
    from workflows.search_attributes import (
        GOALS_MET,
        REACHED,
        STEP,
        VERSION,
        fit_keyword_list,
    )
    from workflows.send_windows import next_opening, zone_for
    from workflows.tags import add_tags, remove_tags

# A definition can only loop through a wait or a goal (validated at publish), but a goal that is
# already met passes straight through: stop an enrollment that runs this many steps in a row
# without pausing rather than let it spin.
MAX_STEPS_WITHOUT_PAUSE = 1000
# Oldest entries are dropped past this, or past MAX_TIMELINE_BYTES of JSON (workflows/limits.py);
# `timeline_dropped` counts them.
MAX_TIMELINE = 1000
# Timeline kinds that also make a log line (skipped while replaying, like every workflow log).
LOGGED_KINDS = frozenset(
    {"step_completed", "goal_met", "moved", "goal_unmet", "timed_out", "ended"}
)

ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=[WEBHOOK_REJECTED, SMTP_REJECTED, SMS_REJECTED],
)
# Enrollments started with this patch retry actions themselves, with ACTION_RETRY's backoff.
VISIBLE_RETRIES = "action-retries-in-workflow"
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


@dataclass(frozen=True)
class Action:
    """How an action step runs: its activity, the request model it takes (built from the step
    context and the step), the result it answers, how long one attempt may take, the summary
    label shown in the UI, and what the timeline keeps of the result."""

    activity: str
    request: Callable[..., BaseModel]
    result_type: type
    timeout_seconds: int
    label: str
    detail: Callable[[Any], dict[str, Any]]


def _webhook_detail(hook: WebhookResult) -> dict[str, Any]:
    return {"status_code": hook.status_code, "webhook_id": hook.webhook_id}


def _delivery_detail(sent: DeliveryResult) -> dict[str, Any]:
    detail: dict[str, Any] = {"message_id": sent.message_id}
    if sent.skipped:
        detail["skipped"] = sent.skipped
    return detail


ACTIONS: dict[str, Action] = {
    "webhook": Action(SEND_WEBHOOK, WebhookRequest, WebhookResult, 30, "webhook", _webhook_detail),
    "send_email": Action(SEND_EMAIL, EmailRequest, DeliveryResult, 60, "email", _delivery_detail),
    "send_sms": Action(SEND_SMS, SmsRequest, DeliveryResult, 30, "sms", _delivery_detail),
}
# How much of a failed attempt's message `waiting.last_error` shows.
LAST_ERROR_CHARS = 200


class _Finished(Exception):
    """Raised inside the interpreter when the enrollment ends."""


@workflow.defn
class EnrollmentWorkflowV2:
    """The enrollment as it is started now. Every change made to the enrollment's commands
    since its first type, EnrollmentWorkflow (workflows/first_types.py), is built in: no patch
    markers; no memo write at a plain completion; the first pause already in the start's search
    attributes, written by the contact (`first_stop`). A type of its own, so that no worker
    running older code ever runs one."""

    # False in the first type, whose histories hold the patches: `workflow.patched` asks them.
    ALL_PATCHES_BUILT_IN: ClassVar[bool] = True

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self.input = input
        self.steps = input.automation.steps
        self.positions = {step.id: i for i, step in enumerate(self.steps)}
        self.contact: ContactSnapshot = input.contact.model_copy(deep=True)
        self.position = 0
        self.status: EnrollmentStatus = "active"
        self.outcome: str | None = None
        self.waiting: Waiting | None = None
        self.goals = {s.id: GoalStatus(step_id=s.id) for s in self.steps if isinstance(s, GoalStep)}
        self.timeline: list[TimelineEntry] = []
        self.timeline_bytes = 0
        self.timeline_dropped = 0
        self.pending_move: int | None = None
        self.visits: dict[str, int] = {}
        self.reached: list[str] = []
        self.events_this_run = 0
        # Otherwise the contact learns of the end from our completion.
        self.end_reported_by_signal = input.end_reported_by_signal
        # The pause an earlier run was in when it continued as new; resumed, not restarted.
        self.resuming: Waiting | None = None
        if input.progress is not None:
            progress = input.progress
            self.position = progress.position
            self.goals = {g.step_id: g for g in progress.goals}
            self.timeline = progress.timeline
            self.timeline_bytes = sum(json_bytes(entry) for entry in self.timeline)
            self.timeline_dropped = progress.timeline_dropped
            self.visits = progress.visits
            self.reached = progress.reached or list(progress.visits)
            self.contact = progress.contact
            self.resuming = progress.waiting
        else:
            entered: dict[str, Any] = {"version": input.version}
            if input.trigger is not None:
                entered |= {
                    "trigger_id": input.trigger.trigger_id,
                    "trigger_event_id": input.trigger.event_id,
                }
            self._record("entered", None, entered)
            # R15: here, before any signal handler runs, so that looked-back events come before
            # every later event. The contact's profile already reflects them.
            enrolled_at = input.enrolled_at or workflow.now()
            for event in input.lookback_events:
                self._match(event, enrolled_at - (event.accepted_at or enrolled_at))

    # --- messages ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: EnrollmentInput) -> EnrollmentView:
        try:
            await self._interpret()
        except asyncio.CancelledError:
            # R11: cancelled at once; the in-flight activity (if any) was cancelled with us.
            self._finish("cancelled", "cancelled")
        except _Finished:
            pass
        ended = EnrollmentEnded(
            enrollment_id=input.enrollment_id, automation_id=input.automation_id, status=self.status
        )
        if self.end_reported_by_signal:
            try:
                await workflow.get_external_workflow_handle(input.contact_workflow_id).signal(
                    SIGNAL_ENROLLMENT_ENDED, ended
                )
            except ApplicationError:
                workflow.logger.warning("contact workflow gone; enrollment end not reported")
        return self.view()

    @workflow.signal(name=SIGNAL_REPORT_END)
    def report_end_by_signal(self) -> None:
        """The contact run that started us continues as new: the next one would not see us
        complete."""
        self.end_reported_by_signal = True

    @workflow.signal(name=SIGNAL_EVENT)
    def on_event(self, event: ContactEvent) -> None:
        """An event for this contact, forwarded by the contact workflow in acceptance order."""
        if self.status != "active":
            return
        self.events_this_run += 1
        refused = event_refusal(self.contact, event)  # past the contact's bounds: not kept
        if refused is None or not workflow.patched("enrollment-bounds-contact"):
            self.contact.apply_event(event, self._tags_any_case)
        if not self._match(event):
            return
        if self.pending_move is None or not self._search_attributes_at_pauses():
            # A goal met while the enrollment stays paused shows now; one that moves it shows
            # at the next pause or the end, a moment later.
            self._update_search_attributes()

    def _match(self, event: ContactEvent, age: timedelta | None = None) -> bool:
        """Record the goals `event` meets and the move it calls for (R3, R4, R8, R9); False
        when it meets none. `age`: for an event accepted before the enrollment, how long
        before (R15)."""
        matched = goals_met_by(
            self.input.automation,
            event,
            self.input.automation_id,
            self.input.context,
            age,
            self._tags_any_case,
        )
        if not matched:
            return False
        here = self.pending_move if self.pending_move is not None else self.position
        eligible: list[int] = []
        for index in matched:
            goal = self.steps[index]
            assert isinstance(goal, GoalStep)
            status = self.goals[goal.id]
            if not status.met:  # R9: the first matching event is the one remembered
                status.met = True
                status.met_at = event.accepted_at or workflow.now()
                status.event_id = event.id
                # Replay-safe: the SDK does not record workflow metrics while replaying.
                workflow.metric_meter().create_counter(
                    "goalflow_goals_met", "goals met by enrollments (first match of each goal)"
                ).add(1, {"automation_id": self.input.automation_id, "goal": goal.id})
            movable = index >= here or goal.jump_from == "anywhere"
            detail = {"event_id": event.id, "event_type": event.type, "moves": movable}
            if age is not None:
                detail["lookback"] = True
            self._record("goal_met", goal.id, detail)
            if movable:
                eligible.append(index)
        if eligible:
            self.pending_move = max(eligible)  # R8: the eligible goal furthest down
        return True

    @workflow.query
    def view(self) -> EnrollmentView:
        step = self.steps[self.position] if self.position < len(self.steps) else None
        return EnrollmentView(
            enrollment_id=self.input.enrollment_id,
            automation_id=self.input.automation_id,
            version=self.input.version,
            contact_id=self.input.contact.id,
            status=self.status,
            current_step=step.id if step is not None else None,
            waiting=self.waiting,
            goals=list(self.goals.values()),
            timeline=self.timeline,
            outcome=self.outcome,
            timeline_dropped=self.timeline_dropped,
            context=self.input.context,
        )

    def _patched(self, patch_id: str) -> bool:
        return self.ALL_PATCHES_BUILT_IN or workflow.patched(patch_id)

    def _tags_any_case(self) -> bool:
        # Asked only when a tag differs from another but for case (workflows/tags.py); a patch
        # of every type, V2 included, since it came after them.
        return workflow.patched("tags-any-case")

    # --- the interpreter --------------------------------------------------------------------

    async def _interpret(self) -> None:
        position: int | None = self.position
        if (
            self.input.progress is None
            and self.pending_move is not None
            and self._patched("enrollment-applies-lookback")
        ):
            # R15: goals met by looked-back events move the contact before the first step.
            position = self._take_move()
        unpaused = 0
        while position is not None and position < len(self.steps):
            self.position = position
            if self.steps[position].id not in self.reached:
                self.reached.append(self.steps[position].id)  # written with the next upsert
            self._show_progress()
            paused_before = workflow.now()
            position = await self._execute(position)
            if position is not None and self.pending_move is not None:
                position = self._take_move()
            unpaused = 0 if workflow.now() > paused_before else unpaused + 1
            if unpaused > MAX_STEPS_WITHOUT_PAUSE:
                self._finish("failed", "loop_guard")
                raise _Finished
        # `self.position` stays at the last step run: the final view and the search attribute
        # say where the enrollment ended.
        if self.status == "active":
            self._finish("completed", "completed")

    async def _execute(self, index: int) -> int | None:
        """Run one step in order; return where to go next (None: the enrollment ended)."""
        step = self.steps[index]
        if isinstance(step, GoalStep):
            return await self._arrive_at_goal(index, step)
        visit = self.visits.get(step.id, 0) + (0 if self.resuming else 1)
        self.visits[step.id] = visit
        if not self.resuming:
            self._record("step_started", step.id, {"visit": visit} if visit > 1 else {})
        detail: dict[str, Any] = {}
        next_index: int | None = index + 1
        match step:
            case WaitStep():
                detail = await self._wait(step)
            case IfElseStep():
                branch = condition_holds(step.if_, self.contact, self._tags_any_case)
                target = step.then if branch else step.else_
                detail = {"branch": "then" if branch else "else", "next": target}
                next_index = self.positions[target]
            case EndStep():
                self._record("step_completed", step.id, {})
                self._finish("completed", "ended")
                return None
            case AddTagStep() | RemoveTagStep() | UpdateContactStep():
                refused = step_refusal(self.contact, step)
                if refused is not None and workflow.patched("enrollment-bounds-contact"):
                    detail = _failed(refused)  # the contact stays as it is, and healthy
                else:
                    await self._change_contact(step, visit)
            case WebhookStep():
                detail = await self._run_action(step, visit)
            case SendEmailStep() | SendSmsStep():
                detail = await self._run_action(step, visit)
        self._record("step_completed", step.id, detail)
        return next_index

    async def _arrive_at_goal(self, index: int, goal: GoalStep) -> int | None:
        """R5: reaching goal G in order."""
        if self.goals[goal.id].met:
            self.pending_move = None
            return self._on_met(index, goal)
        policy = goal.if_unmet
        match policy:
            case IfUnmetEnd():
                self._record("goal_unmet", goal.id, {"action": "end"})
                self._finish("exited", "goal_unmet")
                return None
            case IfUnmetContinue():
                self._record("goal_unmet", goal.id, {"action": "continue"})
                return index + 1
            case IfUnmetWait():
                if self.resuming:
                    until = self.resuming.until
                else:
                    timeout = parse_duration(policy.timeout) if policy.timeout else None
                    until = workflow.now() + timeout if timeout else None
                    self._record("waiting", goal.id, {"goal": goal.id, "until": _iso(until)})
                self.waiting = Waiting(kind="goal", goal=goal.id, until=until)
                self._show_progress()
                moved = await self._pause(until, f"waiting for goal {goal.id}")
                self.waiting = None
                if moved:
                    return self._take_move()
                self._record("timed_out", goal.id, {"on_timeout": policy.on_timeout})
                if policy.on_timeout == "continue":
                    return index + 1
                self._finish("exited", "goal_unmet")
                return None
        return index + 1

    def _take_move(self) -> int | None:
        """Apply the pending move to goal G (R3/R4): G is met, so `on_met` decides."""
        assert self.pending_move is not None
        target, self.pending_move = self.pending_move, None
        goal = self.steps[target]
        assert isinstance(goal, GoalStep)
        if target != self.position:
            self._record("moved", goal.id, {"from": self.steps[self.position].id, "to": goal.id})
            self.position = target
        if goal.id not in self.reached:
            self.reached.append(goal.id)  # shown by the next upsert
        return self._on_met(target, goal)

    def _on_met(self, index: int, goal: GoalStep) -> int | None:
        """R6."""
        action = goal.on_met
        self._record("step_completed", goal.id, {"met": True, "on_met": action.action})
        if isinstance(action, OnMetGoto):
            return self.positions[action.step]
        if isinstance(action, OnMetEnd):
            self._finish("completed", "goal_met")
            return None
        return index + 1

    async def _wait(self, step: WaitStep) -> dict[str, Any]:
        now = workflow.now()
        if self.resuming is not None and self.resuming.until is not None:
            until = self.resuming.until
        elif step.duration is not None:
            until = now + parse_duration(step.duration)
        elif step.until is not None:
            until = step.until
        else:
            assert step.until_time is not None
            zone = self.contact.fields.get("timezone") or self.input.automation.settings.timezone
            until = next_clock_time(now, step.until_time, step.weekdays, zone)
        self.waiting = Waiting(kind="timer", until=until)
        if not self.resuming:
            self._record("waiting", step.id, {"until": _iso(until)})
        self._show_progress()
        moved = await self._pause(until, f"wait {step.id}")
        self.waiting = None
        return {"cut_short": True} if moved else {}

    async def _hold_for_send_window(self, step: SendEmailStep | SendSmsStep) -> bool:
        """R16: wait until the send window is open; True when a goal moved the contact
        meanwhile (the send does not happen). Checked again after each hold: a worker that
        was down past the window's close must not send outside it."""
        while True:
            if self.resuming is not None:
                until = self.resuming.until
            else:
                window = step.window(self.input.automation.settings.send_window)
                if window is None:
                    return False
                until = next_opening(workflow.now(), window, self._zone())
                if until is None or not self._patched("send-window-hold"):
                    return False
                self._record("waiting", step.id, {"send_window": True, "until": _iso(until)})
            self.waiting = Waiting(kind="send_window", until=until)
            self._show_progress()
            moved = await self._pause(until, f"send window for {step.id}")
            self.waiting = None
            if moved:
                return True

    def _zone(self) -> ZoneInfo:
        """The contact's own timezone when it names a valid one, else the automation's."""
        return zone_for(
            self.contact.fields.get("timezone"), self.input.automation.settings.timezone
        )

    async def _pause(self, until: datetime | None, summary: str) -> bool:
        """Durable wait until `until` (None: no limit) that a goal match cuts short; True when
        cut short. Long waits through many events continue as new here, at a pause, where the
        whole position is `self.waiting`."""
        self.resuming = None
        while self.pending_move is None:
            remaining = None if until is None else until - workflow.now()
            if remaining is not None and remaining <= timedelta(0):
                return False
            try:
                await workflow.wait_condition(
                    lambda: self.pending_move is not None or self._should_continue_as_new(),
                    timeout=remaining,
                    timeout_summary=summary,
                )
            except TimeoutError:
                return False
            if self.pending_move is None:
                await self._continue_as_new()
        return True

    def _should_continue_as_new(self) -> bool:
        limit = self.input.continue_as_new_after_events
        if limit is not None and self.events_this_run >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self.waiting is not None
        progress = EnrollmentProgress(
            position=self.position,
            goals=list(self.goals.values()),
            timeline=self.timeline,
            timeline_dropped=self.timeline_dropped,
            visits=self.visits,
            contact=self.contact,
            waiting=self.waiting,
            reached=self.reached,
        )
        # Looked-back events were applied by the first run; the next has no use for them.
        carried = {
            "progress": progress,
            # The progress has the contact as it is now; the first one is not needed again.
            "contact": ContactSnapshot(id=self.input.contact.id),
            "lookback_events": [],
            "end_reported_by_signal": self.end_reported_by_signal,
        }
        workflow.continue_as_new(self.input.model_copy(update=carried))

    async def _change_contact(
        self, step: AddTagStep | RemoveTagStep | UpdateContactStep, visit: int
    ) -> None:
        """Steps that change the contact go through the contact workflow, so the change becomes
        an event for every enrollment of the contact (this one included)."""
        change = StepChange(
            id=f"{self.input.enrollment_id}:{step.id}:{visit}",
            enrollment_id=self.input.enrollment_id,
            # One more automated cause than what started this enrollment (R14's chain limit).
            depth=(self.input.trigger.depth if self.input.trigger else 0) + 1,
        )
        match step:
            case AddTagStep():
                change.add_tags = [step.tag]
                add_tags(self.contact.tags, [step.tag], self._tags_any_case)
            case RemoveTagStep():
                change.remove_tags = [step.tag]
                remove_tags(self.contact.tags, [step.tag], self._tags_any_case)
            case UpdateContactStep():
                change.fields = step.fields
                self.contact.fields.update(step.fields)
        await workflow.get_external_workflow_handle(self.input.contact_workflow_id).signal(
            SIGNAL_STEP_CHANGE, change
        )

    async def _run_action(
        self, step: WebhookStep | SendEmailStep | SendSmsStep, visit: int
    ) -> dict[str, Any]:
        context = StepContext(
            enrollment_id=self.input.enrollment_id,
            automation_id=self.input.automation_id,
            step_id=step.id,
            visit=visit,
            contact=self.contact,
            enrollment_context=self.input.context,
        )
        if isinstance(step, SendEmailStep) and self.contact.unsubscribed:
            return {"skipped": "unsubscribed"}
        if not isinstance(step, WebhookStep) and await self._hold_for_send_window(step):
            return {"skipped": "moved", "cut_short": True}  # R16: a goal moved the contact
        # A goal met meanwhile does not cut the action (R3): the move follows it. Cancelling the
        # enrollment (R11) does cancel it.
        # Retried by the workflow itself, one attempt per activity, so that the enrollment can
        # say it is retrying (`waiting.kind = "retrying"`) and each failed attempt is a short
        # line in the history rather than a failure kept, and cut, by the server.
        own_retries = self._patched(VISIBLE_RETRIES)
        retry = ONE_ATTEMPT if own_retries else ACTION_RETRY
        action = ACTIONS[step.type]
        attempt = 1
        while True:
            try:
                result = await self._execute_action(action, step, context, retry)
                break
            except ActivityError as err:
                if isinstance(err.cause, CancelledError):
                    raise asyncio.CancelledError from err
                failure: BaseException | None = err.cause
            except CancelledError as err:
                raise asyncio.CancelledError from err
            except (ApplicationError, TemporalTimeoutError) as err:
                # A local activity's failure arrives as it is, not wrapped in an ActivityError.
                failure = err
            if not own_retries or attempt >= (ACTION_RETRY.maximum_attempts or 1):
                return _failed(failure)
            if not _retryable(failure):
                return _failed(failure)
            attempt += 1
            await self._before_retry(attempt, failure)
        self.waiting = None
        return action.detail(result)

    def _execute_action(
        self,
        action: Action,
        step: WebhookStep | SendEmailStep | SendSmsStep,
        context: StepContext,
        retry: RetryPolicy,
    ) -> Awaitable[Any]:
        """One attempt of the step's activity, as ACTIONS describes it."""
        request = action.request(context=context, step=step)
        timeout = timedelta(seconds=action.timeout_seconds)
        summary = f"{action.label} {step.name or step.id}"
        options: dict[str, Any] = {
            "result_type": action.result_type,
            "start_to_close_timeout": timeout,
            "retry_policy": retry,
            "summary": summary,
        }
        if isinstance(step, SendEmailStep) and self._patched("send-email-as-local-activity"):
            # A local activity: run by this worker within the workflow task, recorded as one
            # marker, no task dispatch; a send takes milliseconds.
            return workflow.execute_local_activity(action.activity, request, **options)
        return workflow.execute_activity(action.activity, request, **options)

    async def _before_retry(self, attempt: int, failure: BaseException | None) -> None:
        """Wait out ACTION_RETRY's backoff before `attempt`, saying so in `waiting`. Not cut
        short by a goal (R3: the move follows the action); cancelling the enrollment cuts it."""
        policy = ACTION_RETRY
        delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 2)
        if policy.maximum_interval is not None:
            delay = min(delay, policy.maximum_interval)
        last_error = _failed(failure)["error"][:LAST_ERROR_CHARS]
        self.waiting = Waiting(
            kind="retrying",
            attempt=attempt,
            next_at=workflow.now() + delay,
            last_error=last_error,
        )
        await workflow.sleep(delay, summary=f"retry {attempt}")
        self.waiting = Waiting(kind="retrying", attempt=attempt, last_error=last_error)

    # --- bookkeeping ------------------------------------------------------------------------

    def _record(self, kind: TimelineKind, step_id: str | None, detail: dict[str, Any]) -> None:
        entry = TimelineEntry(
            at=workflow.now(), kind=kind, step_id=step_id, detail=bounded_detail(detail)
        )
        self.timeline.append(entry)
        self.timeline_bytes += json_bytes(entry)
        if kind in LOGGED_KINDS:
            # One line per step and per goal/end decision; ids only, never contact data.
            workflow.logger.info(
                "enrollment %s",
                kind,
                extra={
                    "enrollment_id": self.input.enrollment_id,
                    "contact_id": self.input.contact.id,
                    "automation_id": self.input.automation_id,
                    "step_id": step_id,
                    "kind": kind,
                },
            )
        while len(self.timeline) > 2 and (
            len(self.timeline) > MAX_TIMELINE or self.timeline_bytes > MAX_TIMELINE_BYTES
        ):
            self.timeline_bytes -= json_bytes(self.timeline.pop(1))  # keep `entered`
            self.timeline_dropped += 1

    def _finish(self, status: EnrollmentStatus, outcome: str) -> None:
        self.status = status
        self.outcome = outcome
        self.waiting = None
        self._record("ended", None, {"status": status, "outcome": outcome})
        if status != "completed" or not self.ALL_PATCHES_BUILT_IN:
            # A completed execution without a status in its memo reads as "completed" (see
            # api/visibility.py): the common ending needs no memo write, a history event.
            workflow.upsert_memo({"status": status, "outcome": outcome})
        self._update_search_attributes()
        workflow.set_current_details(
            f"automation {self.input.automation_id} v{self.input.version} · {status} ({outcome})"
        )

    def _show_progress(self) -> None:
        step = self.steps[self.position] if self.position < len(self.steps) else None
        parts = [f"automation {self.input.automation_id} v{self.input.version}"]
        if step is not None:
            parts.append(f"step {step.id}")
        if self.waiting is not None and self.waiting.kind == "goal":
            parts.append(f"waiting for goal {self.waiting.goal}")
        elif self.waiting is not None and self.waiting.kind == "send_window":
            parts.append(f"send window opens {_iso(self.waiting.until)}")
        elif self.waiting is not None:
            parts.append(f"waiting until {_iso(self.waiting.until)}")
        workflow.set_current_details(" · ".join(parts))
        if self.waiting is not None or not self._search_attributes_at_pauses():
            self._update_search_attributes()

    def _search_attributes_at_pauses(self) -> bool:
        """Search attributes are written when the enrollment pauses (a wait, a goal it waits
        at, a send window) and when it ends, and only when they changed; not at every step.
        Each upsert is a billable action and a history event (docs/benchmarks.md); between two
        pauses the steps take milliseconds. Enrollments started before this patch write at
        every step."""
        return self.input.search_attributes and self._patched("search-attributes-at-pauses")

    def _update_search_attributes(self) -> None:
        if not self.input.search_attributes:
            return
        step = self.steps[self.position].id if self.position < len(self.steps) else ""
        met = fit_keyword_list([goal_id for goal_id, g in self.goals.items() if g.met])
        if self._search_attributes_at_pauses():
            # What the workflow holds: given at start (the contact sets the first step) or
            # written by an earlier upsert, carried over continue-as-new.
            current = workflow.info().typed_search_attributes
            if current.get(STEP) == step and sorted(current.get(GOALS_MET) or []) == sorted(met):
                return
        # The same upsert as before `GoalflowVersion`/`GoalflowReached` existed, with more in
        # it: replay matches upserts by command, not content, so no patch is needed.
        workflow.upsert_search_attributes(
            [
                STEP.value_set(step),
                GOALS_MET.value_set(met),
                VERSION.value_set(self.input.version),
                REACHED.value_set(fit_keyword_list(self.reached)),
            ]
        )


NON_PAUSING_STEPS = (
    SendEmailStep,
    SendSmsStep,
    WebhookStep,
    AddTagStep,
    RemoveTagStep,
    UpdateContactStep,
)


def first_stop(steps: list[Step]) -> list[str]:
    """The steps an enrollment goes through from the start to where it can first stop (a wait,
    a goal, a branch, an end), that one last: given as its search attributes at start, so that
    reaching that pause writes nothing. A send held by its window, an action being retried or
    a goal met by a looked-back event stop elsewhere; the enrollment then writes where it is."""
    reached: list[str] = []
    for step in steps:
        reached.append(step.id)
        if not isinstance(step, NON_PAUSING_STEPS):
            break
    return reached


def _retryable(failure: BaseException | None) -> bool:
    """Whether ACTION_RETRY would try again after this failure."""
    if isinstance(failure, ApplicationError):
        types = ACTION_RETRY.non_retryable_error_types or []
        return not failure.non_retryable and failure.type not in types
    return True


def _failed(cause: BaseException | None) -> dict[str, Any]:
    """A permanent failure, shown in the timeline; the enrollment carries on."""
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    return {"result": "failed", "error": message, "error_type": kind}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
