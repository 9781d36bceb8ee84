"""What the enrollment interpreter (workflows/interpreter.py) asks its driver to carry out.

Small frozen values, one class per kind (the class is the tag of the union). The interpreter
answers each input with a list of them, in the order it decided them; a driver carries them out
in that order. At most one *blocking* command comes in a list, always last: the interpreter then
waits for the driver's answer to it (`Interpreter.on_patch`, `on_action_done`,
`on_contact_changed`, `on_timer` / `on_moved`). The workflow (workflows/enrollment.py) drives it
with Temporal; a simulated driver can answer the same commands with a simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.definition import SendEmailStep, SendSmsStep, WebhookStep
from workflows.messages import EnrollmentStatus, StepChange, StepContext, TimelineEntry, Waiting


@dataclass(frozen=True)
class Shown:
    """What the enrollment shows of itself at one moment (the Temporal UI's details and the
    search attributes), taken when the command is made."""

    step: str | None  # None: past the last step
    waiting: Waiting | None
    goals_met: tuple[str, ...]
    reached: tuple[str, ...]
    # Waiting at a compound goal: (events counted, events needed) (workflows/goal_counting.py).
    goal_progress: tuple[int, int] | None = None


# --- carried out at once ----------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A timeline entry was added (the workflow logs some kinds)."""

    entry: TimelineEntry


@dataclass(frozen=True)
class GoalMet:
    """A goal was met for the first time (a metric)."""

    goal_id: str


@dataclass(frozen=True)
class ShowProgress:
    """The enrollment is at a step, or pausing there: show where."""

    shown: Shown


@dataclass(frozen=True)
class ShowDetails:
    """An event counted toward the compound goal the enrollment waits at without meeting it:
    the details line shows the new count (no search attribute changes)."""

    shown: Shown


@dataclass(frozen=True)
class ShowGoals:
    """An event met goals; `moving`: a move is pending, shown at the next pause or the end."""

    shown: Shown
    moving: bool


@dataclass(frozen=True)
class Finish:
    """The enrollment ended with this status and outcome: show it."""

    status: EnrollmentStatus
    outcome: str
    shown: Shown


# --- blocking: the interpreter waits for the answer --------------------------------------------


@dataclass(frozen=True)
class CheckPatch:
    """Whether the change `patch_id` (workflows/patches.py) applies; answer with `on_patch`."""

    patch_id: str


@dataclass(frozen=True)
class RunAction:
    """Run the action step (send the email or text, call the webhook); answer with
    `on_action_done(detail, now)`, `detail` being what the timeline keeps of the result."""

    step: WebhookStep | SendEmailStep | SendSmsStep
    context: StepContext


@dataclass(frozen=True)
class ChangeContact:
    """Hand a step's change to the contact; answer with `on_contact_changed(now)`."""

    change: StepChange


@dataclass(frozen=True)
class PauseUntil:
    """Pause until `until` (None: no limit) unless a goal moves the enrollment first; answer
    with `on_timer(now)` when the time came, `on_moved(now)` when a move cut it short."""

    until: datetime | None
    summary: str


@dataclass(frozen=True)
class BetweenSteps:
    """A move to another version was asked for (R19, `Interpreter.version_move_asked`): the
    enrollment stands between two steps, before the one at `position`. Either the driver
    carries the move out (the enrollment goes on in a new run), or it answers with
    `on_go_on(now)`. Never made otherwise."""

    position: int


Blocking = CheckPatch | RunAction | ChangeContact | PauseUntil | BetweenSteps
Command = Recorded | GoalMet | ShowProgress | ShowDetails | ShowGoals | Finish | Blocking
BLOCKING = (CheckPatch, RunAction, ChangeContact, PauseUntil, BetweenSteps)
