"""What an enrollment shows of itself in Temporal: the details line of the UI, its search
attributes, and at the end its memo. Workflow code (it writes upserts, history events), run
in the enrollment's sandbox; what to show comes from the interpreter's commands."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.commands import Finish, ShowDetails, ShowGoals, Shown, ShowProgress
    from workflows.enrollment_state import iso
    from workflows.messages import EnrollmentInput
    from workflows.patches import SEARCH_ATTRIBUTES_AT_PAUSES
    from workflows.search_attributes import GOALS_MET, REACHED, STEP, VERSION, fit_keyword_list


class Visibility:
    """The visibility policy of one enrollment. `patched` asks whether a change applies (the
    first type asks `workflow.patched`); `all_built_in`: the enrollment is of a type with every
    change built in."""

    def __init__(
        self, input: EnrollmentInput, patched: Callable[[str], bool], all_built_in: bool
    ) -> None:
        self.input = input
        self.patched = patched
        self.all_built_in = all_built_in

    def carry_out(self, command: ShowProgress | ShowDetails | ShowGoals | Finish) -> None:
        match command:
            case ShowProgress(shown=shown):
                self._show_progress(shown)
            case ShowDetails(shown=shown):
                workflow.set_current_details(self._details(shown))
            case ShowGoals(shown=shown, moving=moving):
                if not moving or not self._at_pauses():
                    self._update_search_attributes(shown)
            case Finish(status=status, outcome=outcome, shown=shown):
                if status != "completed" or not self.all_built_in:
                    # A completed execution without a status in its memo reads as "completed"
                    # (see goalflow/service/visibility.py): the common ending needs no memo write,
                    # a history event.
                    workflow.upsert_memo({"status": status, "outcome": outcome})
                self._update_search_attributes(shown)
                workflow.set_current_details(f"{self._automation()} · {status} ({outcome})")

    def _automation(self) -> str:
        return f"automation {self.input.automation_id} v{self.input.version}"

    def _show_progress(self, shown: Shown) -> None:
        workflow.set_current_details(self._details(shown))
        if shown.waiting is not None or not self._at_pauses():
            self._update_search_attributes(shown)

    def _details(self, shown: Shown) -> str:
        """The Temporal UI's details line: the automation, the step, what it waits for."""
        parts = [self._automation()]
        if shown.step is not None:
            parts.append(f"step {shown.step}")
        waiting = shown.waiting
        if waiting is not None and waiting.kind == "goal":
            counted = ""
            if shown.goal_progress is not None:
                counted = f": {shown.goal_progress[0]} of {shown.goal_progress[1]}"
            parts.append(f"waiting for goal {waiting.goal}{counted}")
        elif waiting is not None and waiting.kind == "send_window":
            parts.append(f"send window opens {iso(waiting.until)}")
        elif waiting is not None and waiting.kind == "budget":
            parts.append(f"message budget: a slot frees {iso(waiting.until)}")
        elif waiting is not None and waiting.kind == "quiet_hours":
            parts.append(f"quiet hours end {iso(waiting.until)}")
        elif waiting is not None:
            parts.append(f"waiting until {iso(waiting.until)}")
        return " · ".join(parts)

    def _at_pauses(self) -> bool:
        """Search attributes are written when the enrollment pauses (a wait, a goal it waits
        at, a send window) and when it ends, and only when they changed; not at every step.
        Each upsert is a billable action and a history event (docs/benchmarks.md); between two
        pauses the steps take milliseconds. Enrollments started before this patch write at
        every step."""
        return self.input.search_attributes and self.patched(SEARCH_ATTRIBUTES_AT_PAUSES)

    def _update_search_attributes(self, shown: Shown) -> None:
        if not self.input.search_attributes:
            return
        step = shown.step if shown.step is not None else ""
        met = fit_keyword_list(list(shown.goals_met))
        if self._at_pauses():
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
                REACHED.value_set(fit_keyword_list(list(shown.reached))),
            ]
        )
