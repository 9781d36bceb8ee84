"""What the dashboard shows, read through the API's own service layer and Temporal visibility.

Counts come from visibility count queries (one small query each, run concurrently), never from
listing enrollments: an automation with 10,000 enrollments costs the same few queries as one
with ten. Visibility is eventually consistent, so the counts may lag the enrollments by a second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from api.service import Goalflow
from api.visibility import enrollment_query, quote
from workflows.definition import Automation, GoalStep, IfElseStep
from workflows.messages import CatalogEntry


@dataclass
class Funnel:
    """How many enrollments an automation has, from count queries."""

    enrolled: int = 0
    active: int = 0
    finished: int = 0  # ended in any way: completed, exited, cancelled or failed
    converted: int = 0  # met at least one goal

    @property
    def conversion(self) -> float | None:
        return self.converted / self.enrolled if self.enrolled else None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "enrolled": self.enrolled,
            "active": self.active,
            "finished": self.finished,
            "converted": self.converted,
            "conversion": self.conversion,
        }


@dataclass
class StepCount:
    here: int = 0
    reached: int | None = None  # None: not known from visibility
    met: int | None = None  # goals only


@dataclass
class AutomationRow:
    entry: CatalogEntry
    state: str | None
    funnel: Funnel


@dataclass
class Jump:
    """An arrow in the flow: from a step to another, and why."""

    target: str
    label: str


@dataclass
class FlowStep:
    step_id: str
    type: str
    name: str | None
    goal: bool
    jumps: list[Jump] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def _count(goalflow: Goalflow, query: str) -> int:
    return (await goalflow.client.count_workflows(query)).count


async def funnel(goalflow: Goalflow, automation_id: str) -> Funnel:
    base = enrollment_query(automation_id)
    enrolled, active, converted = await asyncio.gather(
        _count(goalflow, base),
        _count(goalflow, f"{base} AND ExecutionStatus = 'Running'"),
        _count(goalflow, f"{base} AND GoalflowGoalsMet IS NOT NULL"),
    )
    # Counted separately, two queries can each see a different instant: never below zero.
    return Funnel(
        enrolled=enrolled,
        active=active,
        finished=max(enrolled - active, 0),
        converted=converted,
    )


def state_of(entry: object) -> str | None:
    """`active`/`paused` where the catalog knows it."""
    state = getattr(entry, "state", None)
    return state if isinstance(state, str) else None


async def automation_rows(goalflow: Goalflow) -> list[AutomationRow]:
    catalog = await goalflow.catalog()
    entries = sorted(catalog.automations, key=lambda e: e.automation_id)
    funnels = await asyncio.gather(*(funnel(goalflow, e.automation_id) for e in entries))
    return [
        AutomationRow(entry=e, state=state_of(e), funnel=f)
        for e, f in zip(entries, funnels, strict=True)
    ]


async def step_counts(
    goalflow: Goalflow, automation_id: str, definition: Automation
) -> dict[str, StepCount]:
    """Per step: enrollments at it now (`here`) and, for goals, how many met it (`met`)."""
    base = enrollment_query(automation_id)
    steps = definition.steps
    here = [
        _count(goalflow, f"{base} AND ExecutionStatus = 'Running' AND GoalflowStep = {quote(s.id)}")
        for s in steps
    ]
    goals = [s for s in steps if isinstance(s, GoalStep)]
    met = [_count(goalflow, f"{base} AND GoalflowGoalsMet = {quote(g.id)}") for g in goals]
    counts = await asyncio.gather(*here, *met)
    result = {s.id: StepCount(here=n) for s, n in zip(steps, counts[: len(steps)], strict=True)}
    for goal, n in zip(goals, counts[len(steps) :], strict=True):
        result[goal.id].met = n
    return result


def flow(definition: Automation) -> list[FlowStep]:
    """The steps in document order with the jumps that leave each one."""
    drawn: list[FlowStep] = []
    for position, step in enumerate(definition.steps):
        item = FlowStep(step.id, step.type, step.name, isinstance(step, GoalStep))
        if isinstance(step, IfElseStep):
            item.jumps += [Jump(step.then, "if true"), Jump(step.else_, "else")]
        elif isinstance(step, GoalStep):
            if step.on_met.action == "goto":
                item.jumps.append(Jump(step.on_met.step, "when met"))
            elif step.on_met.action == "end":
                item.notes.append("when met: the enrollment ends (goal met)")
            unmet = step.if_unmet
            if unmet.action == "end":
                item.notes.append("reached unmet: the enrollment ends")
            elif unmet.action == "wait":
                limit = f" up to {unmet.timeout}, then {unmet.on_timeout}" if unmet.timeout else ""
                item.notes.append(f"reached unmet: waits for it{limit}")
            if step.jump_from == "anywhere":
                item.notes.append("contacts anywhere in the automation jump here when it is met")
            elif position > 0:
                item.notes.append("contacts above jump here when it is met")
        elif step.type == "end":
            item.notes.append("the enrollment ends here")
        drawn.append(item)
    return drawn
