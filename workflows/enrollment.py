"""EnrollmentWorkflowV2: one contact going through one version of one automation.

The workflow only wires the pieces: the step interpreter (workflows/interpreter.py, a pure state
machine over the definition snapshot it was started with, R12) decides, and the workflow carries
out its commands with Temporal: the action runner (workflows/actions.py), the pause
(workflows/pause.py), the visibility policy (workflows/visibility.py). Events arrive from the
contact workflow as signals, in acceptance order (R1); goal matches set a pending move that cuts
pauses short and follows actions in flight (R3). Cancellation (R11) is Temporal's own.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.actions import ActionRunner
from workflows.enrollment_migration import EndedByMove, VersionMove
from workflows.pause import Pause
from workflows.reporting import OutcomeReporter
from workflows.visibility import Visibility

with workflow.unsafe.imports_passed_through():
    from workflows.commands import (
        BetweenSteps,
        Blocking,
        ChangeContact,
        CheckPatch,
        Command,
        Finish,
        GoalMet,
        PauseUntil,
        Recorded,
        RunAction,
        ShowDetails,
        ShowGoals,
        ShowProgress,
    )
    from workflows.events import ContactEvent
    from workflows.interpreter import Interpreter, first_stop
    from workflows.messages import (
        SIGNAL_ENROLLMENT_ENDED,
        SIGNAL_EVENT,
        SIGNAL_REPORT_END,
        SIGNAL_STEP_CHANGE,
        ContactSnapshot,
        EnrollmentEnded,
        EnrollmentInput,
        EnrollmentProgress,
        EnrollmentView,
        StepChange,
        Waiting,
    )
    from workflows.migration import UPDATE_MIGRATE, Moved, MoveRequest, MoveResult
    from workflows.timeline import LOGGED_KINDS, MAX_TIMELINE

__all__ = ["MAX_TIMELINE", "EnrollmentWorkflowV2", "first_stop"]


@workflow.defn
class EnrollmentWorkflowV2:
    """The enrollment as it is started now. Every change made to the enrollment's commands
    since its first type, EnrollmentWorkflow (workflows/v1_types.py), is built in: no patch
    markers; no memo write at a plain completion; the first pause already in the start's search
    attributes, written by the contact (`first_stop`). A type of its own, so that no worker
    running older code ever runs one."""

    # False in the first type, whose histories hold the patches: `workflow.patched` asks them.
    ALL_PATCHES_BUILT_IN: ClassVar[bool] = True

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self.input = input
        self.interpreter = Interpreter(input, workflow.now(), workflow.patched)
        self.events_this_run = 0
        # Otherwise the contact learns of the end from our completion.
        self.end_reported_by_signal = input.end_reported_by_signal
        self.visibility = Visibility(input, self._patched, self.ALL_PATCHES_BUILT_IN)
        self.actions = ActionRunner(self._patched, self._show_waiting)
        self.pause = Pause(
            lambda: self.interpreter.move_pending,
            self._should_continue_as_new,
            self._continue_as_new,
        )
        self.move = VersionMove(input, self.interpreter)
        self.reporter = OutcomeReporter(input)

    # --- messages ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: EnrollmentInput) -> EnrollmentView:
        if input.progress is None:
            self.reporter.report("enrollment.started")
        try:
            await self._drive()
        except asyncio.CancelledError:
            # R11: cancelled at once; the in-flight activity (if any) was cancelled with us.
            self._carry_out(self.interpreter.on_cancelled(workflow.now()))
        except EndedByMove:
            pass
        if self.move.request is not None:
            self.move.on_ended()
            await workflow.wait_condition(workflow.all_handlers_finished)
        ended = EnrollmentEnded(
            enrollment_id=input.enrollment_id,
            automation_id=input.automation_id,
            status=self.interpreter.status,
        )
        self.reporter.report("enrollment.ended", outcome=self.interpreter.status)
        await self.reporter.started()
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
        if self.interpreter.status != "active":
            return
        self.events_this_run += 1
        self._carry_out(self.interpreter.on_event(event, workflow.now()))

    @workflow.query
    def view(self) -> EnrollmentView:
        return self.interpreter.view()

    @workflow.update(name=UPDATE_MIGRATE)
    async def migrate(self, request: MoveRequest) -> MoveResult:
        """R19: move to another version, between steps (workflows/enrollment_migration.py)."""
        return await self.move.handle(request)

    @migrate.validator
    def validate_migrate(self, request: MoveRequest) -> None:
        self.move.validate(request)

    def _patched(self, patch_id: str) -> bool:
        return self.ALL_PATCHES_BUILT_IN or workflow.patched(patch_id)

    # --- driving the interpreter --------------------------------------------------------------

    async def _drive(self) -> None:
        """Carry out the interpreter's commands until it has none left to wait on."""
        interpreter = self.interpreter
        blocking = self._carry_out(interpreter.start(workflow.now()))
        while blocking is not None:
            match blocking:
                case CheckPatch(patch_id=patch_id):
                    commands = interpreter.on_patch(self._patched(patch_id))
                case RunAction(step=step, context=context):
                    detail = await self.actions.run(step, context)
                    commands = interpreter.on_action_done(detail, workflow.now())
                case ChangeContact(change=change):
                    await self._change_contact(change)
                    commands = interpreter.on_contact_changed(workflow.now())
                case PauseUntil(until=until, summary=summary):
                    if await self.pause.wait(until, summary):
                        commands = interpreter.on_moved(workflow.now())
                    else:
                        commands = interpreter.on_timer(workflow.now())
                case BetweenSteps(position=position):
                    await self._move_version(position, None)
                    commands = interpreter.on_go_on(workflow.now())
            blocking = self._carry_out(commands)

    def _carry_out(self, commands: list[Command]) -> Blocking | None:
        """Carry out the commands that need no answer, in order; return the blocking one that
        ends the list, if any."""
        for command in commands:
            match command:
                case Recorded(entry=entry) if entry.kind in LOGGED_KINDS:
                    # One line per step and per goal/end decision; ids only, never contact data.
                    workflow.logger.info(
                        "enrollment %s",
                        entry.kind,
                        extra={
                            "enrollment_id": self.input.enrollment_id,
                            "contact_id": self.input.contact.id,
                            "automation_id": self.input.automation_id,
                            "step_id": entry.step_id,
                            "kind": entry.kind,
                        },
                    )
                case GoalMet(goal_id=goal_id):
                    # Replay-safe: the SDK does not record workflow metrics while replaying.
                    workflow.metric_meter().create_counter(
                        "goalflow_goals_met", "goals met by enrollments (first match of each goal)"
                    ).add(1, {"automation_id": self.input.automation_id, "goal": goal_id})
                    self.reporter.report("goal.met", step_id=goal_id)
                case ShowProgress() | ShowDetails() | ShowGoals() | Finish():
                    self.visibility.carry_out(command)
                case CheckPatch() | RunAction() | ChangeContact() | PauseUntil() | BetweenSteps():
                    return command
        return None

    async def _change_contact(self, change: StepChange) -> None:
        """Steps that change the contact go through the contact workflow, so the change becomes
        an event for every enrollment of the contact (this one included)."""
        await workflow.get_external_workflow_handle(self.input.contact_workflow_id).signal(
            SIGNAL_STEP_CHANGE, change
        )

    def _show_waiting(self, waiting: Waiting | None) -> None:
        self.interpreter.waiting = waiting

    def _should_continue_as_new(self) -> bool:
        if self.move.pending:
            return True  # not to continue as new: the pause hands over to the move
        limit = self.input.continue_as_new_after_events
        if limit is not None and self.events_this_run >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        if self.move.pending:
            await self._move_version(self.interpreter.position, self.interpreter.waiting)
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.reporter.started()
        progress = self.interpreter.progress()
        workflow.continue_as_new(self.input.model_copy(update=self._carried(progress)))

    def _carried(self, progress: EnrollmentProgress) -> dict[str, object]:
        # Looked-back events were applied by the first run; the next has no use for them.
        return {
            "progress": progress,
            # The progress has the contact as it is now; the first one is not needed again.
            "contact": ContactSnapshot(id=self.input.contact.id),
            "lookback_events": [],
            "end_reported_by_signal": self.end_reported_by_signal,
        }

    async def _move_version(self, position: int, waiting: Waiting | None) -> None:
        """R19, at a point between steps: stay (return), end (EndedByMove), or go on in a new
        run on the new version."""
        decision = self.move.decide(position, waiting, workflow.now())
        if isinstance(decision, Moved):
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self.reporter.started()
            workflow.continue_as_new(
                self.move.next_run(decision, self._carried(decision.progress)),
                search_attributes=self.move.search_attributes(decision),
                memo={"version": self.move.next_version, "status": "active"},
            )
        if self.move.result is not None and self.move.result.outcome == "ended":
            self._carry_out(self.interpreter.end_now("exited", "migrated_out", workflow.now()))
            raise EndedByMove
