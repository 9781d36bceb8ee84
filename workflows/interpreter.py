"""The enrollment's step interpreter: a pure state machine over a definition snapshot (R12).

No Temporal, no asyncio, no clock: each input brings the time it happened at, and each answer
is the list of commands (workflows/commands.py) to carry out, in order. Inputs: `start`, an
event accepted (`on_event`), and the answers to the blocking commands (`on_patch`,
`on_action_done`, `on_contact_changed`, `on_timer`, `on_moved`); `on_cancelled` ends it (R11).
The workflow (workflows/enrollment.py) drives it with Temporal timers, activities and signals;
a simulation can drive the same code with a simulated clock and get the same timeline.

Where the interpreter is between two inputs is held by a generator (the steps are written as
the sequential code they are), the rest by plain fields that continue-as-new carries over
(`progress`). Events arrive in acceptance order (R1); goal matches set a pending move that cuts
pauses short and follows actions in flight (R3).

What stays with the driver: whether a patch applies (asked with CheckPatch, at the moment the
old code asked `workflow.patched`, so that the first types' markers stay where their histories
have them; the patches that came after the V2 types, asked in the middle of a decision such as
matching, through the synchronous `patched` callable the driver supplies); an action's
attempts and retries (RunAction is answered once, with the result; the driver shows a retry in
`waiting` meanwhile); when to continue as new (at a pause, where
`progress` holds the whole position); and which search attributes to write for a command.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any, TypeVar

from workflows.budget import BUDGET_WAITS, sending_rules
from workflows.commands import (
    BetweenSteps,
    Blocking,
    ChangeContact,
    CheckPatch,
    Command,
    PauseUntil,
    RunAction,
    ShowGoals,
)
from workflows.conditions import condition_holds
from workflows.definition import (
    AddTagStep,
    EndStep,
    GoalStep,
    IfElseStep,
    IfUnmetContinue,
    IfUnmetEnd,
    IfUnmetWait,
    RemoveTagStep,
    SendEmailStep,
    SendSmsStep,
    SplitStep,
    Step,
    UpdateContactStep,
    WaitStep,
    WebhookStep,
)
from workflows.durations import parse_duration
from workflows.enrollment_state import EnrollmentState, iso
from workflows.events import ContactEvent
from workflows.experiments import path_mark, split_path
from workflows.limits import event_refusal, step_refusal
from workflows.messages import (
    EnrollmentInput,
    EnrollmentStatus,
    StepContext,
    Waiting,
)
from workflows.patches import (
    ENROLLMENT_APPLIES_LOOKBACK,
    ENROLLMENT_BOUNDS_CONTACT,
    ENROLLMENT_WAITS_FOR_BUDGET,
    SEND_WINDOW_HOLD,
)
from workflows.schedule import next_clock_time
from workflows.send_windows import next_opening

# A definition can only loop through a wait or a goal (validated at publish), but a goal that is
# already met passes straight through: stop an enrollment that runs this many steps in a row
# without pausing rather than let it spin.
MAX_STEPS_WITHOUT_PAUSE = 1000

T = TypeVar("T")
# The interpreter's steps: they yield a blocking command and receive its answer.
Steps = Generator[Blocking, Any, T]


class Interpreter(EnrollmentState):
    """The enrollment's steps run over its state: each input answers with the commands to carry
    out. Built like its state; the commands that building made come with the first answer."""

    def __init__(
        self, input: EnrollmentInput, now: datetime, patched: Callable[[str], bool]
    ) -> None:
        super().__init__(input, now, patched)
        self._run: Steps[None] | None = None
        self._awaiting: Blocking | None = None
        # R19: a move to another version waits for the step in flight to finish.
        self.version_move_asked = False

    # --- inputs -------------------------------------------------------------------------------

    def start(self, now: datetime) -> list[Command]:
        """Begin (or, after continue-as-new, resume) the steps."""
        if self._run is not None:
            raise RuntimeError("the interpreter has already started")
        self._run = self._interpret()
        return self._advance(None, now)

    def on_patch(self, applies: bool) -> list[Command]:
        """The answer to CheckPatch (within the same moment)."""
        return self._answer(CheckPatch, applies, self.now)

    def on_action_done(self, detail: dict[str, Any], now: datetime) -> list[Command]:
        """The answer to RunAction: what the timeline keeps of its result (or failure)."""
        return self._answer(RunAction, detail, now)

    def on_contact_changed(self, now: datetime) -> list[Command]:
        """The answer to ChangeContact: the contact has the change."""
        return self._answer(ChangeContact, None, now)

    def on_timer(self, now: datetime) -> list[Command]:
        """The answer to PauseUntil when its time came first."""
        return self._answer(PauseUntil, False, now)

    def on_moved(self, now: datetime) -> list[Command]:
        """The answer to PauseUntil when a goal's move (`move_pending`) cut it short."""
        if self.pending_move is None:
            raise RuntimeError("no move is pending")
        return self._answer(PauseUntil, True, now)

    def on_event(self, event: ContactEvent, now: datetime) -> list[Command]:
        """An event for this contact, accepted at `now`, in acceptance order (R1). It never
        moves the enrollment by itself: a pause in progress ends with `on_moved`, an action
        in flight is followed by the move (R3)."""
        if self.status != "active":
            return []
        self.now = now
        refused = event_refusal(self.contact, event)  # past the contact's bounds: not kept
        if refused is None or not self.patched(ENROLLMENT_BOUNDS_CONTACT):
            self.contact.apply_event(event, self._tags_any_case)
        if self._match(event):
            # A goal met while the enrollment stays paused shows now; one that moves it shows
            # at the next pause or the end, a moment later.
            self._emit(ShowGoals(self._shown(), moving=self.pending_move is not None))
        return self._take_outbox()

    def on_go_on(self, now: datetime) -> list[Command]:
        """The answer to BetweenSteps when the enrollment stays on its version."""
        self.version_move_asked = False
        return self._answer(BetweenSteps, None, now)

    def on_cancelled(self, now: datetime) -> list[Command]:
        """R11: cancelled at once, whatever it was waiting for."""
        return self.end_now("cancelled", "cancelled", now)

    def end_now(self, status: EnrollmentStatus, outcome: str, now: datetime) -> list[Command]:
        """End at once, whatever it was waiting for (R11; R19's `unmapped: end`)."""
        self.now = now
        if self._run is not None:
            self._run.close()
        self._awaiting = None
        self._finish(status, outcome)
        return self._take_outbox()

    @property
    def awaiting(self) -> Blocking | None:
        """The blocking command the interpreter waits for an answer to, if any."""
        return self._awaiting

    def _answer(self, kind: type[Blocking], value: Any, now: datetime) -> list[Command]:
        if not isinstance(self._awaiting, kind):
            raise RuntimeError(f"the interpreter waits for {self._awaiting!r}, not {kind.__name__}")
        return self._advance(value, now)

    def _advance(self, value: Any, now: datetime) -> list[Command]:
        assert self._run is not None
        self.now = now
        self._awaiting = None
        try:
            self._awaiting = self._run.send(value)
        except StopIteration:
            self._awaiting = None
        commands = self._take_outbox()
        if self._awaiting is not None:
            commands.append(self._awaiting)
        return commands

    # --- the steps ----------------------------------------------------------------------------

    def _interpret(self) -> Steps[None]:
        if self.held_out:
            yield from self._hold_out()
            return
        position: int | None = self.position
        if (
            self.input.progress is None
            and self.pending_move is not None
            and (yield CheckPatch(ENROLLMENT_APPLIES_LOOKBACK))
        ):
            # R15: goals met by looked-back events move the contact before the first step.
            position = self._take_move()
        unpaused = 0
        while position is not None and position < len(self.steps):
            self.position = position
            if self.steps[position].id not in self.reached:
                self.reached.append(self.steps[position].id)  # written with the next upsert
            self._show_progress()
            paused_before = self.now
            position = yield from self._execute(position)
            if position is not None and self.pending_move is not None:
                position = self._take_move()
            if self.version_move_asked and position is not None and position < len(self.steps):
                yield BetweenSteps(position)  # R19: the move follows the step just done
            unpaused = 0 if self.now > paused_before else unpaused + 1
            if unpaused > MAX_STEPS_WITHOUT_PAUSE:
                self._finish("failed", "loop_guard")
                return
        # `self.position` stays at the last step run: the final view and the search attribute
        # say where the enrollment ended.
        if self.status == "active":
            self._finish("completed", "completed")

    def _execute(self, index: int) -> Steps[int | None]:
        """Run one step in order; return where to go next (None: the enrollment ended)."""
        step = self.steps[index]
        if isinstance(step, GoalStep):
            return (yield from self._arrive_at_goal(index, step))
        visit = self.visits.get(step.id, 0) + (0 if self.resuming else 1)
        self.visits[step.id] = visit
        if not self.resuming:
            self._record("step_started", step.id, {"visit": visit} if visit > 1 else {})
        detail: dict[str, Any] = {}
        next_index: int | None = index + 1
        match step:
            case WaitStep():
                detail = yield from self._wait(step)
            case IfElseStep():
                branch = condition_holds(step.if_, self.contact, self._tags_any_case)
                target = step.then if branch else step.else_
                detail = {"branch": "then" if branch else "else", "next": target}
                next_index = self.positions[target]
            case SplitStep():
                path = split_path(self.input.automation_id, self.input.contact.id, step)
                detail = {"path": path.id, "next": path.next}
                next_index = self.positions[path.next]
                if (mark := path_mark(step.id, path.id)) not in self.reached:
                    self.reached.append(mark)  # written with the next upsert
            case EndStep():
                self._record("step_completed", step.id, {})
                self._finish("completed", "ended")
                return None
            case AddTagStep() | RemoveTagStep() | UpdateContactStep():
                refused = step_refusal(self.contact, step)
                if refused is not None and self.patched(ENROLLMENT_BOUNDS_CONTACT):
                    # The contact stays as it is, and healthy: the step fails.
                    detail = {
                        "result": "failed",
                        "error": refused.message,
                        "error_type": refused.type,
                    }
                else:
                    yield ChangeContact(self._change_contact(step, visit))
            case WebhookStep() | SendEmailStep() | SendSmsStep():
                detail = yield from self._run_action(step, visit)
        self._record("step_completed", step.id, detail)
        return next_index

    def _arrive_at_goal(self, index: int, goal: GoalStep) -> Steps[int | None]:
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
                    until = self.now + timeout if timeout else None
                    self._record("waiting", goal.id, {"goal": goal.id, "until": iso(until)})
                self.waiting = Waiting(kind="goal", goal=goal.id, until=until)
                self._show_progress()
                moved = yield from self._pause(until, f"waiting for goal {goal.id}")
                self.waiting = None
                if moved:
                    return self._take_move()
                self._record("timed_out", goal.id, {"on_timeout": policy.on_timeout})
                if policy.on_timeout == "continue":
                    return index + 1
                self._finish("exited", "goal_unmet")
                return None
        return index + 1

    def _hold_out(self) -> Steps[None]:
        """A held-out enrollment runs no step: it listens to the goals for the holdout's
        window (goals met are recorded and move nothing), then completes."""
        holdout = self.input.automation.settings.holdout
        assert holdout is not None
        if self.resuming is not None:
            until = self.resuming.until
        else:
            until = self.now + parse_duration(holdout.window)
            self._record("waiting", None, {"holdout": True, "until": iso(until)})
        self.waiting = Waiting(kind="timer", until=until)
        self._show_progress()
        yield from self._pause(until, "held out")
        self._finish("completed", "holdout")

    def _wait(self, step: WaitStep) -> Steps[dict[str, Any]]:
        now = self.now
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
            self._record("waiting", step.id, {"until": iso(until)})
        self._show_progress()
        moved = yield from self._pause(until, f"wait {step.id}")
        self.waiting = None
        return {"cut_short": True} if moved else {}

    def _run_action(
        self, step: WebhookStep | SendEmailStep | SendSmsStep, visit: int
    ) -> Steps[dict[str, Any]]:
        context = StepContext(
            enrollment_id=self.input.enrollment_id,
            automation_id=self.input.automation_id,
            step_id=step.id,
            visit=visit,
            contact=self.contact,
            enrollment_context=self.input.context,
            sending=sending_rules(self.input.automation.settings),
        )
        if isinstance(step, SendEmailStep) and self.contact.unsubscribed:
            return {"skipped": "unsubscribed"}
        if isinstance(step, WebhookStep):
            detail: dict[str, Any] = yield RunAction(step, context)
            return detail
        while True:
            # R20: a send resumed in its budget wait (after continue-as-new) finishes it first.
            resumed = self.resuming is not None and self.resuming.kind in BUDGET_WAITS
            if resumed and (yield from self._hold_for_budget(step, None)):
                return {"skipped": "moved", "cut_short": True}
            if (yield from self._hold_for_send_window(step)):
                return {"skipped": "moved", "cut_short": True}  # R16: a goal moved the contact
            # A goal met meanwhile does not cut the action (R3): the move follows it. Cancelling
            # the enrollment (R11) does cancel it.
            detail = yield RunAction(step, context)
            # R20: not sent, the budget said when to ask again (only new code answers so).
            if "wait" not in detail or not self.patched(ENROLLMENT_WAITS_FOR_BUDGET):
                return detail
            if (yield from self._hold_for_budget(step, detail)):
                return {"skipped": "moved", "cut_short": True}

    def _hold_for_send_window(self, step: SendEmailStep | SendSmsStep) -> Steps[bool]:
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
                until = next_opening(self.now, window, self._zone())
                if until is None or not (yield CheckPatch(SEND_WINDOW_HOLD)):
                    return False
                self._record("waiting", step.id, {"send_window": True, "until": iso(until)})
            self.waiting = Waiting(kind="send_window", until=until)
            self._show_progress()
            moved = yield from self._pause(until, f"send window for {step.id}")
            self.waiting = None
            if moved:
                return True

    def _hold_for_budget(
        self, step: SendEmailStep | SendSmsStep, answer: dict[str, Any] | None
    ) -> Steps[bool]:
        """R20: wait as the budget's `answer` says (None: the wait being resumed); True when a
        goal moved the contact meanwhile (the send does not happen)."""
        if answer is None:
            assert self.resuming is not None
            kind, until = self.resuming.kind, self.resuming.until
        else:
            kind, until = answer["wait"], datetime.fromisoformat(answer["until"])
            self._record("waiting", step.id, {kind: True, "until": iso(until)})
        self.waiting = Waiting(kind=kind, until=until)
        self._show_progress()
        moved = yield from self._pause(until, f"{kind.replace('_', ' ')} for {step.id}")
        self.waiting = None
        return moved

    def _pause(self, until: datetime | None, summary: str) -> Steps[bool]:
        """Wait until `until` (None: no limit) unless a goal match cuts it short; True when
        cut short."""
        self.resuming = None
        moved: bool = yield PauseUntil(until, summary)
        return moved


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
