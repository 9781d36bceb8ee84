"""R19: moving a running enrollment to another version of its automation, as plain code.

No Temporal, no clock: given an enrollment's state, where it stands (the step it waits at, or
the step it is about to start once an action in flight has finished) and the move asked for,
`decide_move` says what happens: it moves (and here is the progress its next run starts from,
on the new version only), it stays on its version, or it ends. The enrollment workflow applies
the decision (workflows/enrollment_migration.py); the migration job asks every enrollment of a
version for it (workflows/migration_job.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.definition import Automation, GoalStep, Step
from workflows.enrollment_state import EnrollmentState
from workflows.experiments import is_held_out
from workflows.messages import EnrollmentProgress, GoalStatus, TimelineEntry, Waiting
from workflows.timeline import Timeline

# The update an enrollment workflow accepts a move through.
UPDATE_MIGRATE = "migrate"
# ApplicationError.type of a move the enrollment's validator refuses (never in its history).
MIGRATION_REFUSED = "MigrationRefused"

Unmapped = Literal["stay", "end"]
MoveOutcome = Literal["moved", "stayed", "ended", "skipped"]


class MoveRequest(BaseModel):
    """A move of one enrollment from `from_version` to `to_version` (whose definition is
    `automation`). `step_map` is complete: a step of the old version it does not name is
    unmapped."""

    migration_id: str
    from_version: int
    to_version: int
    automation: Automation
    step_map: dict[str, str] = Field(default_factory=dict)
    unmapped: Unmapped = "stay"


class MoveResult(BaseModel):
    outcome: MoveOutcome
    reason: str | None = None
    from_step: str | None = None
    to_step: str | None = None


@dataclass(frozen=True)
class Moved:
    """Go on at `to_step` of the new version, from `progress`."""

    progress: EnrollmentProgress
    from_step: str
    to_step: str


@dataclass(frozen=True)
class Stays:
    from_step: str | None
    reason: str | None = None  # set when the move could not apply (the job lists it as skipped)


@dataclass(frozen=True)
class Ends:
    """Unmapped with `unmapped: end`: the enrollment ends, exited, outcome `migrated_out`."""

    from_step: str


Decision = Moved | Stays | Ends


def same_step(old: Step, new: Step) -> bool:
    """Same id and same definition in both versions."""
    return old.model_dump(mode="json") == new.model_dump(mode="json")


def already_moved(entries: list[TimelineEntry], request: MoveRequest) -> TimelineEntry | None:
    """The `migrated` entry of this very move, when the enrollment made it already (a job that
    asks again after a crash gets the same answer)."""
    for entry in reversed(entries):
        if entry.kind == "migrated":
            detail = entry.detail
            if (detail.get("from_version"), detail.get("to_version")) == (
                request.from_version,
                request.to_version,
            ):
                return entry
            return None
    return None


def decide_move(
    state: EnrollmentState,
    request: MoveRequest,
    position: int,
    waiting: Waiting | None,
    now: datetime,
) -> Decision:
    """The move of the enrollment standing before (or, `waiting` set, paused at) the step at
    `position` of its version."""
    if state.held_out or position >= len(state.steps):
        return Stays(None, reason="held_out")
    target = request.automation
    contact_id = state.input.contact.id
    if is_held_out(state.input.automation_id, contact_id, target.settings.holdout):
        # The new version's holdout would take it out of its steps: not a move R19 describes.
        return Stays(None, reason="held_out")
    old_step = state.steps[position]
    to_id = request.step_map.get(old_step.id)
    if to_id is None:
        if request.unmapped == "end":
            return Ends(old_step.id)
        return Stays(old_step.id)
    positions = {step.id: i for i, step in enumerate(target.steps)}
    to_position = positions[to_id]
    new_step = target.steps[to_position]
    # A wait in progress at an unchanged step keeps its deadline; otherwise the step starts
    # afresh (an action in flight has finished: `waiting` is None and `position` is the next).
    kept = waiting if to_id == old_step.id and same_step(old_step, new_step) else None
    return Moved(_progress(state, request, to_position, kept, old_step.id, now), old_step.id, to_id)


def _progress(
    state: EnrollmentState,
    request: MoveRequest,
    to_position: int,
    kept: Waiting | None,
    from_step: str,
    now: datetime,
) -> EnrollmentProgress:
    target = request.automation
    ids = {step.id for step in target.steps}
    to_step = target.steps[to_position].id
    goals = [
        state.goals[step.id].model_copy()
        if step.id in state.goals and state.goals[step.id].met
        else GoalStatus(step_id=step.id)
        for step in target.steps
        if isinstance(step, GoalStep)
    ]
    timeline = Timeline(list(state.timeline.entries), state.timeline.dropped)
    timeline.record(
        now,
        "migrated",
        to_step,
        {
            "from_version": request.from_version,
            "to_version": request.to_version,
            "from_step": from_step,
            "to_step": to_step,
        },
    )
    # Per-step counts of the new version: the steps it had reached that the new version has,
    # and the one it goes on at.
    reached = [step_id for step_id in state.reached if step_id in ids]
    if to_step not in reached:
        reached.append(to_step)
    return EnrollmentProgress(
        position=to_position,
        goals=goals,
        timeline=timeline.entries,
        timeline_dropped=timeline.dropped,
        visits={step_id: n for step_id, n in state.visits.items() if step_id in ids},
        contact=state.contact.model_copy(deep=True),
        waiting=kept,
        reached=reached,
    )


def check_step_map(
    old: Automation, new: Automation, step_map: dict[str, str]
) -> list[tuple[str, str]]:
    """The entries of `step_map` that name a step missing from its version: (old step id,
    message)."""
    old_ids = {step.id for step in old.steps}
    new_ids = {step.id for step in new.steps}
    problems: list[tuple[str, str]] = []
    for old_id, new_id in step_map.items():
        if old_id not in old_ids:
            problems.append((old_id, f"step {old_id!r} is not in the version moved from"))
        elif new_id not in new_ids:
            problems.append((old_id, f"step {new_id!r} is not in the version moved to"))
    return problems


def full_step_map(old: Automation, new: Automation, given: dict[str, str]) -> dict[str, str]:
    """Each step of `old` to the step of the same id in `new` where there is one, then the
    entries `given` (checked with `check_step_map`) over that."""
    new_ids = {step.id for step in new.steps}
    mapped = {step.id: step.id for step in old.steps if step.id in new_ids}
    mapped.update(given)
    return mapped
