"""The enrollment's input, the progress it carries across continue-as-new, and its view."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.definition import Automation
from workflows.events import ContactEvent
from workflows.messages._contact import TriggerCause
from workflows.messages._names import EnrollmentStatus, TimelineKind
from workflows.messages._profile import ContactSnapshot


class EnrollmentInput(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    automation: Automation
    contact: ContactSnapshot
    contact_workflow_id: str
    search_attributes: bool = True
    context: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerCause | None = None
    # R15: events the contact accepted before this enrollment (at `enrolled_at`) that a
    # criterion's lookback may reach, oldest first; empty unless the definition has a lookback.
    lookback_events: list[ContactEvent] = Field(default_factory=list)
    enrolled_at: datetime | None = None
    # Signal the contact when the enrollment ends. False when the contact learns it from the
    # enrollment's completion (patch contact-learns-end-from-child-completion).
    end_reported_by_signal: bool = True
    # Set when this run continues an earlier one (continue-as-new).
    progress: EnrollmentProgress | None = None
    # Tests force continue-as-new sooner than Temporal would suggest it.
    continue_as_new_after_events: int | None = None
    # As EnrollRequest.report_outcomes.
    report_outcomes: bool = False


OutcomeType = Literal["enrollment.started", "goal.met", "enrollment.ended"]


class OutcomeReport(BaseModel):
    """One post to the reporting webhook; `webhook_id` stays the same across retries."""

    webhook_id: str
    type: OutcomeType
    timestamp: datetime
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    step_id: str | None = None
    outcome: str | None = None


class TimelineEntry(BaseModel):
    at: datetime
    kind: TimelineKind
    step_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CriterionStatus(BaseModel):
    """One criterion of a goal: `count` matching events counted toward it (for a `sequence`
    not met yet, those of its attempt closest to done), `matched` once it has its `min_count`."""

    matched: bool = False
    count: int = 0


class GoalStatus(BaseModel):
    step_id: str
    met: bool = False
    met_at: datetime | None = None
    event_id: str | None = None
    # In the order of the definition; empty in what runs from before compound goals carried.
    criteria: list[CriterionStatus] = Field(default_factory=list)


class SequenceAttempt(BaseModel):
    """A run through a `sequence` goal begun by the first-criterion match at `started`:
    `position` criteria done, `count` events toward the next one (R21)."""

    started: datetime
    position: int = 0
    count: int = 0


def _unset(value: object) -> bool:
    return value is None


class Waiting(BaseModel):
    # send_window: a send held until its window opens (R16 in docs/automations.md); retrying:
    # an action whose last attempt failed, tried again (`attempt`) at `next_at`, or being tried
    # again now (no `next_at`). The retry fields are left out of answers where they are unset.
    # budget / quiet_hours: a send waiting for a slot of the contact's message budget, or for
    # the end of the quiet hours (R20).
    kind: Literal["timer", "goal", "send_window", "retrying", "budget", "quiet_hours"]
    until: datetime | None = None
    goal: str | None = None
    attempt: int | None = Field(None, exclude_if=_unset)
    next_at: datetime | None = Field(None, exclude_if=_unset)
    last_error: str | None = Field(None, exclude_if=_unset)


class EnrollmentProgress(BaseModel):
    """Where an enrollment is, carried across continue-as-new; only taken at a pause, or
    made by a move to another version (R19), where `waiting` is None when the step it goes on
    at starts afresh."""

    position: int
    goals: list[GoalStatus]
    timeline: list[TimelineEntry]
    timeline_dropped: int
    visits: dict[str, int]
    contact: ContactSnapshot
    waiting: Waiting | None
    reached: list[str] = Field(default_factory=list)
    # The attempts of each `sequence` goal not met yet, by goal id (R21).
    sequences: dict[str, list[SequenceAttempt]] = Field(default_factory=dict)


class EnrollmentView(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    status: EnrollmentStatus
    current_step: str | None
    waiting: Waiting | None
    goals: list[GoalStatus]
    timeline: list[TimelineEntry]
    outcome: str | None
    timeline_dropped: int = 0
    context: dict[str, Any] = Field(default_factory=dict)
    holdout: bool = False


EnrollmentInput.model_rebuild()
