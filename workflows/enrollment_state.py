"""An enrollment's state and the goal rules that change it, beside the step interpreter.

Plain code (no Temporal, no asyncio, no clock: `now` is the time of the latest input), passed
through the sandbox. The fields are what continue-as-new carries over (`progress`) and what the
enrollment's view shows; the methods are the decisions that need no waiting: the goals an event
meets and the move it calls for (R3, R4, R8, R9), taking a move and `on_met` (R5, R6), the change
a step makes to the contact, and the timeline entries and commands each makes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from workflows.commands import (
    Command,
    Finish,
    GoalMet,
    Recorded,
    ShowDetails,
    Shown,
    ShowProgress,
)
from workflows.definition import (
    AddTagStep,
    GoalStep,
    OnMetEnd,
    OnMetGoto,
    RemoveTagStep,
    UpdateContactStep,
)
from workflows.events import ContactEvent
from workflows.experiments import HOLDOUT_MARK, is_held_out
from workflows.goal_counting import count_event, goal_progress, ready
from workflows.matching import criteria_met_by
from workflows.messages import (
    ContactSnapshot,
    EnrollmentInput,
    EnrollmentProgress,
    EnrollmentStatus,
    EnrollmentView,
    GoalStatus,
    SequenceAttempt,
    StepChange,
    TimelineKind,
    Waiting,
)
from workflows.patches import TAGS_ANY_CASE
from workflows.send_windows import zone_for
from workflows.tags import add_tags, remove_tags
from workflows.timeline import Timeline


class EnrollmentState:
    """One enrollment's state, built from its input at `now` (its start or, after
    continue-as-new, its resumption). Commands made on the way (the `entered` entry, goals met
    by looked-back events) wait in an outbox for the interpreter's next answer.

    `patched` answers at once whether a patch applies, for the patches asked in the middle of
    a decision (matching, an event's bounds): the workflow passes `workflow.patched`, a
    simulation `lambda _: True`."""

    def __init__(
        self, input: EnrollmentInput, now: datetime, patched: Callable[[str], bool]
    ) -> None:
        self.input = input
        self.patched = patched
        self.steps = input.automation.steps
        self.positions = {step.id: i for i, step in enumerate(self.steps)}
        self.contact: ContactSnapshot = input.contact.model_copy(deep=True)
        self.position = 0
        self.status: EnrollmentStatus = "active"
        self.outcome: str | None = None
        self.waiting: Waiting | None = None
        self.goals = {s.id: GoalStatus(step_id=s.id) for s in self.steps if isinstance(s, GoalStep)}
        # R21: the attempts of each `sequence` goal not met yet (workflows/goal_counting.py).
        self.sequences: dict[str, list[SequenceAttempt]] = {}
        self.timeline = Timeline()
        self.pending_move: int | None = None
        self.visits: dict[str, int] = {}
        self.reached: list[str] = []
        # The pause an earlier run was in when it continued as new; resumed, not restarted.
        self.resuming: Waiting | None = None
        self.now = now
        self._outbox: list[Command] = []
        # Held out (docs/automations.md, Experiments): at no step, and never moved by a goal.
        self.held_out = is_held_out(
            input.automation_id, input.contact.id, input.automation.settings.holdout
        )
        if self.held_out:
            self.position = len(self.steps)
            self.reached = [HOLDOUT_MARK]
        if input.progress is not None:
            progress = input.progress
            self.position = progress.position
            self.goals = {g.step_id: g for g in progress.goals}
            self.timeline = Timeline(progress.timeline, progress.timeline_dropped)
            self.visits = progress.visits
            self.reached = progress.reached or list(progress.visits)
            self.contact = progress.contact
            self.resuming = progress.waiting
            self.sequences = progress.sequences
        for step in self.steps:
            if isinstance(step, GoalStep):
                ready(step, self.goals.setdefault(step.id, GoalStatus(step_id=step.id)))
        if input.progress is None:
            entered: dict[str, Any] = {"version": input.version}
            if input.trigger is not None:
                entered |= {
                    "trigger_id": input.trigger.trigger_id,
                    "trigger_event_id": input.trigger.event_id,
                }
            self._record("entered", None, entered)
            # R15: here, before any event arrives, so that looked-back events come before
            # every later event. The contact's profile already reflects them.
            enrolled_at = input.enrolled_at or now
            for event in input.lookback_events:
                self._match(event, enrolled_at - (event.accepted_at or enrolled_at))

    @property
    def move_pending(self) -> bool:
        return self.pending_move is not None

    def progress(self) -> EnrollmentProgress:
        """Where the enrollment is, for the next run: only taken at a pause."""
        assert self.waiting is not None
        return EnrollmentProgress(
            position=self.position,
            goals=list(self.goals.values()),
            timeline=self.timeline.entries,
            timeline_dropped=self.timeline.dropped,
            visits=self.visits,
            contact=self.contact,
            waiting=self.waiting,
            reached=self.reached,
            sequences=self.sequences,
        )

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
            timeline=self.timeline.entries,
            outcome=self.outcome,
            timeline_dropped=self.timeline.dropped,
            context=self.input.context,
            holdout=self.held_out,
        )

    def _emit(self, command: Command) -> None:
        self._outbox.append(command)

    def _take_outbox(self) -> list[Command]:
        commands, self._outbox = self._outbox, []
        return commands

    # --- goals --------------------------------------------------------------------------------

    def _match(self, event: ContactEvent, age: timedelta | None = None) -> bool:
        """Record the goals `event` meets and the move it calls for (R3, R4, R8, R9); False
        when it meets none. `age`: for an event accepted before the enrollment, how long
        before (R15)."""
        hits = criteria_met_by(
            self.input.automation,
            event,
            self.input.automation_id,
            self.input.context,
            age,
            self._tags_any_case,
        )
        if not hits:
            return False
        at = event.accepted_at or self.now
        matched: list[int] = []
        for index, criteria in hits.items():
            goal = self.steps[index]
            assert isinstance(goal, GoalStep)
            status = self.goals[goal.id]
            attempts = self.sequences.pop(goal.id, [])
            meets, attempts = count_event(goal, status, attempts, criteria, at)
            if attempts:
                self.sequences[goal.id] = attempts
            if meets:
                matched.append(index)
            elif self.waiting is not None and self.waiting.goal == goal.id:
                self._emit(ShowDetails(self._shown()))  # "waiting for goal X: 2 of 3"
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
                status.met_at = event.accepted_at or self.now
                status.event_id = event.id
                self._emit(GoalMet(goal.id))
            movable = not self.held_out and (index >= here or goal.jump_from == "anywhere")
            detail = {"event_id": event.id, "event_type": event.type, "moves": movable}
            if age is not None:
                detail["lookback"] = True
            self._record("goal_met", goal.id, detail)
            if movable:
                eligible.append(index)
        if eligible:
            self.pending_move = max(eligible)  # R8: the eligible goal furthest down
        return True

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

    def _change_contact(
        self, step: AddTagStep | RemoveTagStep | UpdateContactStep, visit: int
    ) -> StepChange:
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
        return change

    def _tags_any_case(self) -> bool:
        # Asked only when a tag differs from another but for case (workflows/tags.py); a patch
        # of every type, V2 included, since it came after them.
        return self.patched(TAGS_ANY_CASE)

    def _zone(self) -> ZoneInfo:
        """The contact's own timezone when it names a valid one, else the automation's."""
        return zone_for(
            self.contact.fields.get("timezone"), self.input.automation.settings.timezone
        )

    # --- bookkeeping --------------------------------------------------------------------------

    def _record(self, kind: TimelineKind, step_id: str | None, detail: dict[str, Any]) -> None:
        self._emit(Recorded(self.timeline.record(self.now, kind, step_id, detail)))

    def _finish(self, status: EnrollmentStatus, outcome: str) -> None:
        self.status = status
        self.outcome = outcome
        self.waiting = None
        self._record("ended", None, {"status": status, "outcome": outcome})
        self._emit(Finish(status, outcome, self._shown()))

    def _show_progress(self) -> None:
        self._emit(ShowProgress(self._shown()))

    def _shown(self) -> Shown:
        step = self.steps[self.position] if self.position < len(self.steps) else None
        progress = None
        if self.waiting is not None and self.waiting.goal is not None:
            goal = self.steps[self.positions[self.waiting.goal]]
            assert isinstance(goal, GoalStep)
            progress = goal_progress(goal, self.goals[goal.id])
        return Shown(
            step=step.id if step is not None else None,
            waiting=self.waiting,
            goals_met=tuple(goal_id for goal_id, g in self.goals.items() if g.met),
            reached=tuple(self.reached),
            goal_progress=progress,
        )


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
