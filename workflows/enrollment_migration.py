"""The enrollment's side of a move to another version (R19): the `migrate` update.

Workflow code, run in the enrollment's sandbox. The validator refuses a move before it reaches
the history (the enrollment ended, or is on another version); an accepted move waits for a
point between steps: a pause in progress (the pause hands over, as it does to continue as new),
or the end of the action in flight (the interpreter stops before the next step, BetweenSteps).
There the decision is made (workflows/migration.py) and carried out: a moved enrollment
continues as new on the new version only, so that no run ever holds two definitions.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.interpreter import Interpreter
    from workflows.messages import EnrollmentInput, Waiting
    from workflows.migration import (
        MIGRATION_REFUSED,
        Decision,
        Ends,
        Moved,
        MoveRequest,
        MoveResult,
        Stays,
        already_moved,
        decide_move,
    )
    from workflows.search_attributes import GOALS_MET, REACHED, STEP, VERSION, fit_keyword_list


class EndedByMove(Exception):
    """Unmapped with `unmapped: end`: the run ends here."""


def _refuse(reason: str, message: str) -> ApplicationError:
    return ApplicationError(message, reason, type=MIGRATION_REFUSED, non_retryable=True)


class VersionMove:
    """At most one move at a time: `request` until it is decided, then its `result`."""

    def __init__(self, input: EnrollmentInput, interpreter: Interpreter) -> None:
        self.input = input
        self.interpreter = interpreter
        self.request: MoveRequest | None = None
        self.result: MoveResult | None = None

    @property
    def pending(self) -> bool:
        return self.request is not None and self.result is None

    def validate(self, request: MoveRequest) -> None:
        """Raise for a move this enrollment cannot take; never changes anything."""
        if self.interpreter.status != "active":
            raise _refuse("ended", "the enrollment has ended")
        if already_moved(self.interpreter.timeline.entries, request) is not None:
            return
        if self.input.version != request.from_version:
            raise _refuse("version", f"the enrollment is on version {self.input.version}")
        if self.pending:
            raise _refuse("busy", "another move is waiting to be made")
        targets = {step.id for step in request.automation.steps}
        if not set(request.step_map.values()) <= targets:
            raise _refuse("step_map", "the step map names a step the new version lacks")

    async def handle(self, request: MoveRequest) -> MoveResult:
        done = already_moved(self.interpreter.timeline.entries, request)
        if done is not None:
            return MoveResult(
                outcome="moved",
                from_step=done.detail.get("from_step"),
                to_step=done.detail.get("to_step"),
            )
        self.request, self.result = request, None
        self.interpreter.version_move_asked = True
        await workflow.wait_condition(lambda: self.result is not None)
        assert self.result is not None
        return self.result

    def decide(self, position: int, waiting: Waiting | None, now: datetime) -> Decision:
        assert self.request is not None
        self.interpreter.version_move_asked = False
        decision = decide_move(self.interpreter, self.request, position, waiting, now)
        match decision:
            case Moved(from_step=from_step, to_step=to_step):
                self.result = MoveResult(outcome="moved", from_step=from_step, to_step=to_step)
            case Ends(from_step=from_step):
                self.result = MoveResult(outcome="ended", from_step=from_step)
            case Stays(from_step=from_step, reason=None):
                self.result = MoveResult(outcome="stayed", from_step=from_step)
            case Stays(from_step=from_step, reason=reason):
                self.result = MoveResult(outcome="skipped", reason=reason, from_step=from_step)
        return decision

    @property
    def next_version(self) -> int:
        assert self.request is not None
        return self.request.to_version

    def on_ended(self) -> None:
        """The enrollment ended before the move could be made."""
        if self.pending:
            self.result = MoveResult(outcome="skipped", reason="ended")

    def next_run(self, moved: Moved, carried: dict[str, object]) -> EnrollmentInput:
        assert self.request is not None
        update = carried | {
            "automation": self.request.automation,
            "version": self.request.to_version,
            "progress": moved.progress,
        }
        return self.input.model_copy(update=update)

    def search_attributes(self, moved: Moved) -> TypedSearchAttributes | None:
        """The next run's: its version, step, goals and reached steps, so that the per-step
        counts follow the move at once."""
        if not self.input.search_attributes:
            return None
        assert self.request is not None
        progress = moved.progress
        met = [goal.step_id for goal in progress.goals if goal.met]
        return workflow.info().typed_search_attributes.updated(
            SearchAttributePair(STEP, moved.to_step),
            SearchAttributePair(GOALS_MET, fit_keyword_list(met)),
            SearchAttributePair(VERSION, self.request.to_version),
            SearchAttributePair(REACHED, fit_keyword_list(progress.reached)),
        )
