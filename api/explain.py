"""Explain (docs/api.md, "Preview, explain"): why a contact was or was not enrolled in an
automation, and how close its events came to the goals it has not met.

Read from what the contact keeps (its recent events, R15), its enrollments in the automation
(their ids are numbered, so no visibility lag) and the automation's versions. The words come from
workflows/match_words.py, which follows matching without deciding anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import WorkflowQueryFailedError

from api import drafts
from api.errors import NotFound
from goalflow.core.slow_worker import raise_if_worker_too_slow
from goalflow.service.contacts import GoalflowService
from workflows.contact import ContactWorkflowV2
from workflows.definition import Automation, GoalStep
from workflows.events import MAX_TRIGGER_DEPTH, ContactEvent
from workflows.match_words import why_goal_not, why_not
from workflows.matching import triggers_met_by
from workflows.messages import (
    AutomationVersion,
    CriterionStatus,
    EnrollmentView,
    Waiting,
    contact_workflow_id,
    enrollment_workflow_id,
)

EntryResult = Literal["enrolled", "refused", "not_matched"]
NO_LOOKBACK = "before the enrollment, and the criterion has no lookback"


class EnrollmentBrief(BaseModel):
    enrollment_id: str
    status: str
    current_step: str | None
    waiting: Waiting | None


class Entry(BaseModel):
    event_id: str
    type: str
    at: datetime | None
    trigger_id: str | None
    result: EntryResult
    reason: str | None


class NearMiss(BaseModel):
    event_id: str
    type: str
    at: datetime | None
    reason: str


class GoalExplained(BaseModel):
    enrollment_id: str
    step_id: str
    met: bool
    near_misses: list[NearMiss]
    # Each criterion's progress, in the definition's order, as the enrollment counts it: how far
    # a compound goal (R21) got; empty for an enrollment from before goals kept counts.
    criteria: list[CriterionStatus] = []


class Explained(BaseModel):
    contact_id: str
    automation_id: str
    enrollments: list[EnrollmentBrief]
    entries: list[Entry]
    goals: list[GoalExplained]


@dataclass(frozen=True)
class Run:
    """One enrollment of the contact in the automation, with the definition it runs."""

    view: EnrollmentView
    automation: Automation

    @property
    def entered_at(self) -> datetime:
        return self.view.timeline[0].at

    @property
    def ended_at(self) -> datetime | None:
        ended = [e.at for e in self.view.timeline if e.kind == "ended"]
        return ended[-1] if ended else None

    @property
    def trigger_event_id(self) -> str | None:
        value = self.view.timeline[0].detail.get("trigger_event_id")
        return value if isinstance(value, str) else None


def _in_effect(versions: list[AutomationVersion], at: datetime | None) -> AutomationVersion | None:
    """The version latest published at `at` (None: none was yet)."""
    found = [v for v in versions if at is None or v.published_at <= at]
    return max(found, key=lambda v: v.version) if found else None


def _refusal(event: ContactEvent, runs: list[Run], automation: Automation) -> str:
    """Why a matched trigger did not enroll, in the contact workflow's order
    (workflows/contact_triggers.py): a chain too deep, an enrollment active then, one before it
    without re-entry; else the automation was paused."""
    if event.depth > MAX_TRIGGER_DEPTH:
        return "chain_cut"
    at = event.accepted_at
    before = [run for run in runs if at is None or run.entered_at <= at]
    if any(run.ended_at is None or (at is not None and run.ended_at > at) for run in before):
        return "already_active"
    if before and not automation.settings.allow_reentry:
        return "reentry"
    return "paused"


def entries(
    automation_id: str,
    versions: list[AutomationVersion],
    events: list[ContactEvent],
    runs: list[Run],
) -> list[Entry]:
    """Each kept event of a type some trigger listens to, and what became of it."""
    by_trigger_event = {run.trigger_event_id: run for run in runs if run.trigger_event_id}
    found: list[Entry] = []
    for event in events:
        version = _in_effect(versions, event.accepted_at)
        if version is None:
            continue
        automation = version.definition
        listening = [
            (automation.trigger_id(i), trigger)
            for i, trigger in enumerate(automation.triggers)
            if trigger.event == event.type
        ]
        if not listening:
            continue
        matched = triggers_met_by(automation, event, automation_id)
        if event.id in by_trigger_event:
            result: EntryResult = "enrolled"
            trigger_id = by_trigger_event[event.id].view.timeline[0].detail.get("trigger_id")
            reason = None
        elif matched:
            result, trigger_id = "refused", matched[0]
            reason = _refusal(event, runs, automation)
        else:
            trigger_id, trigger = listening[0]
            result, reason = "not_matched", why_not(trigger, event, automation_id)
        found.append(
            Entry(
                event_id=event.id,
                type=event.type,
                at=event.accepted_at,
                trigger_id=trigger_id if isinstance(trigger_id, str) else None,
                result=result,
                reason=reason,
            )
        )
    return found


def _miss(goal: GoalStep, event: ContactEvent, run: Run, automation_id: str) -> str | None:
    """Why `event` did not meet `goal` in `run` (None: it is no near miss)."""
    at = event.accepted_at
    ended = run.ended_at
    if at is not None and ended is not None and at > ended:
        return None  # after the enrollment: it could not see it
    reasons: list[str] = []
    for criterion in goal.criteria:
        if criterion.event != event.type:
            continue
        before = at is not None and at < run.entered_at
        reason = why_goal_not(criterion, event, automation_id, run.view.context)
        if reason is None and before:
            if criterion.lookback is None:
                reason = NO_LOOKBACK
            else:
                reason = (
                    f"before the enrollment, further back than the lookback {criterion.lookback}"
                )
        if reason is None:
            return None  # it met this criterion
        reasons.append(reason)
    return reasons[0] if reasons else None


def goals(events: list[ContactEvent], runs: list[Run], automation_id: str) -> list[GoalExplained]:
    found: list[GoalExplained] = []
    for run in runs:
        statuses = {g.step_id: g for g in run.view.goals}
        met = {step_id: g.met for step_id, g in statuses.items()}
        for step in run.automation.steps:
            if not isinstance(step, GoalStep):
                continue
            misses: list[NearMiss] = []
            if not met.get(step.id, False):
                for event in events:
                    reason = _miss(step, event, run, automation_id)
                    if reason is not None:
                        misses.append(
                            NearMiss(
                                event_id=event.id,
                                type=event.type,
                                at=event.accepted_at,
                                reason=reason,
                            )
                        )
            found.append(
                GoalExplained(
                    enrollment_id=run.view.enrollment_id,
                    step_id=step.id,
                    met=met.get(step.id, False),
                    near_misses=misses,
                    criteria=statuses[step.id].criteria if step.id in statuses else [],
                )
            )
    return found


async def explain(goalflow: GoalflowService, contact_id: str, automation_id: str) -> Explained:
    """Gather what the contact keeps and its enrollments in the automation, and explain."""
    try:
        versions = await drafts.versions(goalflow, automation_id)
    except NotFound:
        versions = []
    contact = await goalflow.contact(contact_id)
    handle = goalflow.client.get_workflow_handle(contact_workflow_id(contact_id))
    try:
        events: list[ContactEvent] = await handle.query(ContactWorkflowV2.kept_events)
    except WorkflowQueryFailedError as err:
        raise_if_worker_too_slow(err)
        events = []  # a contact run by a worker that predates the query
    definitions = {v.version: v.definition for v in versions}
    runs: list[Run] = []
    for n in range(1, contact.enrollment_counts.get(automation_id, 0) + 1):
        try:
            view = await goalflow.enrollment(enrollment_workflow_id(automation_id, contact_id, n))
        except NotFound:
            continue  # gone from Temporal's retention
        if view.timeline and view.version in definitions:
            runs.append(Run(view, definitions[view.version]))
    return Explained(
        contact_id=contact_id,
        automation_id=automation_id,
        enrollments=[
            EnrollmentBrief(
                enrollment_id=run.view.enrollment_id,
                status=run.view.status,
                current_step=run.view.current_step,
                waiting=run.view.waiting,
            )
            for run in runs
        ],
        entries=entries(automation_id, versions, events, runs),
        goals=goals(events, runs, automation_id),
    )


def as_json(explained: Explained) -> dict[str, Any]:
    return explained.model_dump(mode="json")
