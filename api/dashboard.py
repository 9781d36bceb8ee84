"""What the dashboard shows, read through the API's own service layer and Temporal visibility.

Counts come from visibility count queries (one small query each, run concurrently), never from
listing enrollments: an automation with 10,000 enrollments costs the same few queries as one
with ten. Visibility is eventually consistent, so the counts may lag the enrollments by a second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pydantic import BaseModel

from api.dashboard_cache import shared_counts
from api.experiments import ExperimentsReport, experiments_report
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import NotFound
from goalflow.service.visibility import enrollment_query
from goalflow.service.visibility import step_counts as visibility_step_counts
from workflows.definition import Automation, GoalStep, IfElseStep, SplitStep, Step
from workflows.messages import AutomationVersion, CatalogEntry, ContactView, EnrollmentView
from workflows.search_attributes import GOALS_MET


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
    reached: int = 0
    met: int | None = None  # goals only


@dataclass
class AutomationRow:
    entry: CatalogEntry
    funnel: Funnel


@dataclass
class TriggerRow:
    """A trigger of the shown version, with what it did (for every version so far)."""

    trigger_id: str
    text: str
    started: int
    refused: dict[str, int]


@dataclass
class AutomationPage:
    found: AutomationVersion
    latest_version: int
    funnel: Funnel
    counts: dict[str, StepCount]
    triggers: list[TriggerRow]
    experiments: ExperimentsReport | None = None


@dataclass
class Jump:
    """An arrow in the flow: from a step to another, and why (a message key, api/i18n)."""

    target: str
    label: str
    # A split's path: the key of its `entered` count (`path:STEP:PATH`).
    count: str | None = None
    # The values the label's message takes.
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Note:
    """A line under a step: a message key (api/i18n) and the values it takes."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class FlowStep:
    step_id: str
    type: str
    name: str | None
    goal: bool
    jumps: list[Jump] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


async def _count(goalflow: GoalflowService, query: str) -> int:
    return (await goalflow.client.count_workflows(query)).count


async def funnel(goalflow: GoalflowService, automation_id: str) -> Funnel:
    base = enrollment_query(automation_id)
    by_status, converted = await asyncio.gather(
        goalflow.client.count_workflows(f"{base} GROUP BY ExecutionStatus"),
        _count(goalflow, f"{base} AND {GOALS_MET.name} IS NOT NULL"),
    )
    # One query for all the statuses: a single instant, so they add up.
    active = sum(g.count for g in by_status.groups if g.group_values == ["Running"])
    return Funnel(
        enrolled=by_status.count,
        active=active,
        finished=by_status.count - active,
        converted=converted,
    )


async def automation_rows(goalflow: GoalflowService) -> list[AutomationRow]:
    catalog = await goalflow.catalog()
    entries = sorted(catalog.automations, key=lambda e: e.automation_id)
    funnels = await asyncio.gather(*(funnel(goalflow, e.automation_id) for e in entries))
    return [AutomationRow(entry=e, funnel=f) for e, f in zip(entries, funnels, strict=True)]


async def automation_counts(
    goalflow: GoalflowService, automation_id: str, version: int | None
) -> tuple[AutomationVersion, Funnel, dict[str, StepCount]]:
    """The version asked for (NotFound when there is none), its totals and per-step counts."""
    found = await goalflow.automation(automation_id, version)
    totals, counts = await version_counts(goalflow, found)
    return found, totals, counts


async def version_counts(
    goalflow: GoalflowService, shown: AutomationVersion
) -> tuple[Funnel, dict[str, StepCount]]:
    """The automation's totals and the version's per-step counts, counted concurrently and
    shared for a second between the requests for the same version (api/dashboard_cache.py)."""

    async def count() -> tuple[Funnel, dict[str, StepCount]]:
        totals, counts = await asyncio.gather(
            funnel(goalflow, shown.automation_id), step_counts(goalflow, shown)
        )
        return totals, counts

    key = (shown.automation_id, shown.version)
    found = await shared_counts(goalflow.client).get(key, count)
    return found  # type: ignore[return-value]


async def automation_page(
    goalflow: GoalflowService, automation_id: str, version: int | None
) -> AutomationPage:
    found = await goalflow.automation(automation_id, version)

    async def latest() -> AutomationVersion:
        return found if version is None else await goalflow.automation(automation_id)

    newest, (totals, counts), started, tested = await asyncio.gather(
        latest(),
        version_counts(goalflow, found),
        goalflow.trigger_counts(automation_id),
        experiments(goalflow, found),
    )
    definition = found.definition
    triggers = []
    for index, trigger in enumerate(definition.triggers):
        trigger_id = definition.trigger_id(index)
        count = started.get(trigger_id)
        triggers.append(
            TriggerRow(
                trigger_id=trigger_id,
                text=describe(trigger),
                started=count.started if count else 0,
                refused=dict(count.refused) if count else {},
            )
        )
    return AutomationPage(found, newest.version, totals, counts, triggers, tested)


async def experiments(
    goalflow: GoalflowService, shown: AutomationVersion
) -> ExperimentsReport | None:
    """The version's experiments report; None (and no query) when it has no split and no
    holdout."""
    definition = shown.definition
    if definition.settings.holdout is None and not any(
        isinstance(step, SplitStep) for step in definition.steps
    ):
        return None
    return await experiments_report(goalflow.client, shown.automation_id, shown.version, definition)


def path_counts(report: ExperimentsReport | None) -> dict[str, int]:
    """Enrollments that took each split path, by the key its jump in the flow names."""
    if report is None:
        return {}
    return {
        f"path:{split.step_id}:{path.path_id}": path.entered
        for split in report.splits
        for path in split.paths
    }


def describe(criterion: BaseModel) -> str:
    """A trigger or goal criterion as one line: its event and filters."""
    data = criterion.model_dump(exclude_none=True, by_alias=True)
    data.pop("id", None)
    event = data.pop("event", "?")
    filters = ", ".join(f"{k} {_value(v)}" for k, v in data.items() if v not in ({}, []))
    return f"{event} ({filters})" if filters else str(event)


def _value(value: object) -> str:
    if isinstance(value, list):
        return " or ".join(str(v) for v in value)
    return str(value)


async def step_counts(goalflow: GoalflowService, shown: AutomationVersion) -> dict[str, StepCount]:
    """Per step of the version shown: `here`, `reached` and, for goals, `met` (what
    `GET /v1/automations/{id}/steps` answers)."""
    counted = await visibility_step_counts(
        goalflow.client, shown.automation_id, shown.version, shown.definition
    )
    return {c.step_id: StepCount(here=c.here, reached=c.reached, met=c.met) for c in counted}


def flow(definition: Automation) -> list[FlowStep]:
    """The steps in document order with the jumps that leave each one."""
    drawn: list[FlowStep] = []
    for position, step in enumerate(definition.steps):
        item = FlowStep(step.id, step.type, step.name, isinstance(step, GoalStep))
        if isinstance(step, IfElseStep):
            item.jumps += [Jump(step.then, "flow.if_true"), Jump(step.else_, "flow.else")]
        elif isinstance(step, GoalStep):
            if step.kind != "any_of":  # R21: how its events combine
                values = {"count": str(len(step.criteria))}
                key = f"flow.met_by_{step.kind}"
                if step.within is not None:
                    key, values = "flow.met_by_sequence_within", {**values, "within": step.within}
                item.notes.append(Note(key, values))
            if step.on_met.action == "goto":
                item.jumps.append(Jump(step.on_met.step, "flow.when_met"))
            elif step.on_met.action == "end":
                item.notes.append(Note("flow.met_ends"))
            unmet = step.if_unmet
            if unmet.action == "end":
                item.notes.append(Note("flow.unmet_ends"))
            elif unmet.action == "wait" and unmet.timeout:
                key = f"flow.unmet_waits_then_{unmet.on_timeout}"
                item.notes.append(Note(key, {"timeout": unmet.timeout}))
            elif unmet.action == "wait":
                item.notes.append(Note("flow.unmet_waits"))
            if step.jump_from == "anywhere":
                item.notes.append(Note("flow.jump_from_anywhere"))
            elif position > 0:
                item.notes.append(Note("flow.jump_from_above"))
        elif isinstance(step, SplitStep):
            total = sum(path.weight for path in step.paths)
            item.jumps += [
                Jump(
                    path.next,
                    "flow.path",
                    f"path:{step.id}:{path.id}",
                    {"path": path.id, "share": f"{path.weight / total:.0%}"},
                )
                for path in step.paths
            ]
            item.notes.append(Note("flow.split_note"))
        elif step.type == "end":
            item.notes.append(Note("flow.ends_here"))
        drawn.append(item)
    return drawn


async def enrollment_details(
    goalflow: GoalflowService, view: EnrollmentView
) -> tuple[dict[str, Step], ContactView | None]:
    """What an enrollment's page says its timeline with: the steps of its version by id (none
    when the version cannot be read: the page then shows step ids) and its contact's profile,
    for the addresses messages went to (None when it has none)."""

    async def steps() -> dict[str, Step]:
        try:
            found = await goalflow.automation(view.automation_id, view.version)
        except NotFound:
            return {}
        return {step.id: step for step in found.definition.steps}

    async def contact() -> ContactView | None:
        try:
            return await goalflow.contact(view.contact_id)
        except NotFound:
            return None

    return await asyncio.gather(steps(), contact())
