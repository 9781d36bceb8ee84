"""Public request and response models of the HTTP API (docs/api.md).

The models the service layer validates or answers with (an event, a contact, enrollment
summaries, step counts) are defined beside it and re-exported here, so this stays the one list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
)

from api.i18n import MAX_TAG_LENGTH, is_language_tag
from goalflow.core.checks import Problem
from goalflow.service.inputs import CONTACT_ID_PATTERN as CONTACT_ID_PATTERN
from goalflow.service.inputs import MAX_CONTACT_BYTES as MAX_CONTACT_BYTES
from goalflow.service.inputs import MAX_EVENT_DATA_BYTES as MAX_EVENT_DATA_BYTES
from goalflow.service.inputs import ContactId as ContactId
from goalflow.service.inputs import ContactIdIn as ContactIdIn
from goalflow.service.inputs import ContactIn as ContactIn
from goalflow.service.inputs import EmailAddress as EmailAddress
from goalflow.service.inputs import EventId as EventId
from goalflow.service.inputs import EventIn as EventIn
from goalflow.service.inputs import ProfileAttributesIn as ProfileAttributesIn
from goalflow.service.inputs import Strict as Strict
from goalflow.service.inputs import Tag as Tag
from goalflow.service.inputs import appointment_status as appointment_status
from goalflow.service.inputs import fits as fits
from goalflow.service.inputs import validation_reason as validation_reason
from goalflow.service.visibility import EnrollmentSummary as EnrollmentSummary
from goalflow.service.visibility import StepCount as StepCount
from goalflow.service.visibility import StepCounts as StepCounts
from workflows.definition import STEP_ID_PATTERN
from workflows.messages import (
    AutomationLifecycle,
    ContactKeyed,
    EnrollmentStatus,
    GoalStatus,
    ProfileAttributes,
    TimelineEntry,
    Waiting,
)

AutomationId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
# Events, contacts and definitions travel whole in Temporal payloads (updates, signals to every
# enrollment, child workflow inputs), which Temporal refuses past 2 MB: an enrollment carries a
# definition, a contact, its context and looked-back events together, so these stay well below
# (the worst case is computed in tests/test_limits.py; docs/security.md, "Limits").
MAX_DEFINITION_BYTES = 512 * 1024
# An enrollment's `context` travels in every step's activity input.
MAX_CONTEXT_BYTES = 16 * 1024


class Status(BaseModel):
    status: str


class EnrollmentIn(Strict):
    contact: ContactIn
    version: int | None = Field(None, ge=1)
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="a JSON object (at most 16 KiB) that templates see as enrollment.context",
    )

    @field_validator("contact")
    @classmethod
    def _contact_fits(cls, contact: ContactIn) -> ContactIn:
        fits(contact.model_dump(), MAX_CONTACT_BYTES, "the contact")
        return contact

    @field_validator("context")
    @classmethod
    def _context_fits(cls, context: dict[str, Any]) -> dict[str, Any]:
        fits(context, MAX_CONTEXT_BYTES, "the context")
        return context


class EnrollmentCreated(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    status: str
    created: bool


class PublishOut(BaseModel):
    automation_id: str
    version: int
    state: AutomationLifecycle
    warnings: list[str] = Field(default_factory=list)
    # Checks of the definition (goalflow/core/checks.py): warnings that did not block the publish.
    problems: list[Problem] = Field(default_factory=list)


class AutomationStateOut(BaseModel):
    automation_id: str
    state: AutomationLifecycle


class EventAccepted(BaseModel):
    event_id: str
    contact_id: str
    duplicate: bool


class EventBatchIn(Strict):
    # Items are validated one by one: an invalid item is rejected by index, not the batch.
    events: list[Any] = Field(max_length=1000)


class Rejected(BaseModel):
    index: int
    reason: str


class EventBatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejected]


class TagsIn(Strict):
    add: list[Tag] = Field(default_factory=list, max_length=500)
    remove: list[Tag] = Field(default_factory=list, max_length=500)
    id: EventId | None = Field(None, description="idempotency key for the change")


class TagsOut(BaseModel):
    contact_id: str
    added: list[str]
    removed: list[str]
    duplicate: bool


class ContactOut(ProfileAttributes, ContactKeyed):
    tags: list[str]
    fields: dict[str, Any]
    unsubscribed: bool
    sms_unsubscribed: bool = False
    active_enrollments: list[dict[str, Any]]


class ContactProfileIn(ProfileAttributesIn):
    """`PUT /v1/contacts/{id}`: the fields given are set; `tags` is the whole tag set, `fields`
    are merged into the custom fields, `timezone` is the custom field `timezone` and `locale`
    (a BCP 47 language tag: the language of the pages the contact sees) the custom field
    `locale`."""

    timezone: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    locale: str | None = Field(
        None,
        max_length=MAX_TAG_LENGTH,
        description="a BCP 47 language tag (en, es, es-MX): the language of the pages the "
        "contact sees (English or Spanish; any other falls back to the browser's)",
        examples=["es"],
    )
    tags: list[Tag] | None = Field(None, max_length=500)
    fields: dict[str, Any] | None = None

    @field_validator("locale")
    @classmethod
    def _locale_is_a_language_tag(cls, locale: str | None) -> str | None:
        if locale is not None and not is_language_tag(locale):
            raise ValueError(
                "locale is a BCP 47 language tag: a language of 2 or 3 letters, then optional "
                "subtags joined by '-', like en, es or es-MX"
            )
        return locale

    @field_validator("fields")
    @classmethod
    def _fields_fit(cls, fields: dict[str, Any] | None) -> dict[str, Any] | None:
        if fields is not None:
            fits(fields, MAX_CONTACT_BYTES, "the fields")
        return fields


class ContactSaved(BaseModel):
    contact_id: str
    created: bool
    changed: list[str]


class IgnoredEvent(BaseModel):
    index: int = Field(description="the provider event's position in the request (0 for one)")
    reason: str


class HookAccepted(BaseModel):
    accepted: int
    duplicates: int
    ignored: int
    ignored_events: list[IgnoredEvent] = Field(default_factory=list)


class TriggerLinkIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]


class Retrying(BaseModel):
    """`waiting` while an action is tried again: the attempt that runs at `next_at` (none
    while it runs), and why the previous one failed."""

    kind: Literal["retrying"]
    attempt: int
    next_at: datetime | None = Field(None, exclude_if=lambda value: value is None)
    last_error: str


def _not_held_out(value: object) -> bool:
    return value is False


class EnrollmentOut(BaseModel):
    """One enrollment, exactly the fields docs/api.md lists."""

    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    status: EnrollmentStatus
    current_step: str | None
    waiting: Waiting | Retrying | None
    goals: list[GoalStatus]
    timeline: list[TimelineEntry]
    outcome: str | None
    context: dict[str, Any] = Field(default_factory=dict)
    # Only a held-out enrollment carries it (docs/automations.md, Experiments).
    holdout: bool = Field(False, exclude_if=_not_held_out)

    @field_validator("waiting", mode="before")
    @classmethod
    def _retrying(cls, waiting: Any) -> Any:
        if isinstance(waiting, Waiting):
            waiting = waiting.model_dump()
        if isinstance(waiting, dict) and waiting.get("kind") == "retrying":
            return Retrying.model_validate(waiting)
        return waiting


class EnrollmentCancelled(BaseModel):
    enrollment_id: str
    status: EnrollmentStatus


class EnrollmentList(BaseModel):
    enrollments: list[EnrollmentSummary]
    next_page_token: str | None
