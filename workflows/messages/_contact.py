"""The contact workflow's messages: enroll requests, events, tag changes, step changes, answers,
and the view of the contact."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from workflows.definition import Automation
from workflows.events import ContactEvent, TriggerMatch
from workflows.messages._names import EnrollmentStatus
from workflows.messages._profile import ContactProfile, ProfileAttributes


class ActiveEnrollment(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int


class TriggerCause(BaseModel):
    """What started a triggered enrollment."""

    trigger_id: str
    event_id: str
    depth: int = 0


class EnrollRequest(BaseModel):
    automation_id: str
    version: int
    automation: Automation
    contact: ContactProfile
    search_attributes: bool = True
    # Idempotency key: a repeat gets the first answer (a bulk batch retried after a crash).
    request_id: str | None = None
    continue_as_new_after_events: int | None = None
    # What templates see as `enrollment.context` (validated and size-capped by the API).
    context: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerCause | None = None
    # GOALFLOW_REPORTING_WEBHOOK_URL was set where the enrollment was asked for: the enrollment
    # reports its start, goals and end (activities/reporting.py). False leaves its commands as
    # they always were.
    report_outcomes: bool = False


class EnrollResult(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    created: bool
    status: EnrollmentStatus = "active"


class EnrollReceipt(BaseModel):
    request_id: str
    result: EnrollResult


class EventReceipt(BaseModel):
    event_id: str
    contact_id: str
    duplicate: bool


class EventBatch(BaseModel):
    """Events of one contact, in the order given, accepted by one update (the batch route)."""

    events: list[ContactEvent]


class EventBatchReceipt(BaseModel):
    """One receipt per event of an `EventBatch`, in the same order."""

    receipts: list[EventReceipt]


class TagChange(BaseModel):
    """Tags to add/remove for a contact; `id` makes the resulting events idempotent."""

    id: str
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    # Automations with triggers on the resulting events' types, by type (from the API's copy
    # of the trigger set); the contact workflow matches them against the events it makes.
    triggers: dict[str, list[TriggerMatch]] = Field(default_factory=dict)


class TagChangeResult(BaseModel):
    contact_id: str
    added: list[str]
    removed: list[str]
    duplicate: bool = False


class StepChange(BaseModel):
    """A change a step of an enrollment makes to its contact (add_tag, remove_tag,
    update_contact). Its `id` is stable per enrollment, step and visit."""

    id: str
    enrollment_id: str
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    # The depth of the events it makes (the enrollment's trigger depth + 1).
    depth: int = 0


class EnrollmentEnded(BaseModel):
    enrollment_id: str
    automation_id: str
    status: EnrollmentStatus


class MatchTriggersRequest(BaseModel):
    events: list[ContactEvent]


class MatchTriggersResult(BaseModel):
    """For each event of the request, in order, the triggers it matched."""

    matches: list[list[TriggerMatch]]


class ContactKeyed(BaseModel):
    """`contact_id`, first in the JSON of a model listing it after its other bases."""

    contact_id: str


class ContactView(ProfileAttributes, ContactKeyed):
    tags: list[str]
    fields: dict[str, Any]
    unsubscribed: bool
    sms_unsubscribed: bool = False
    active_enrollments: list[ActiveEnrollment]
    enrollment_counts: dict[str, int]
    events_seen: int = 0
