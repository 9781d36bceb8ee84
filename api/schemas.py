"""Public request and response models of the HTTP API (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic_core import to_json

from api.error_words import worded
from api.i18n import MAX_TAG_LENGTH, is_language_tag
from goalflow.core.checks import Problem
from workflows.definition import APPOINTMENT_STATUSES, STEP_ID_PATTERN, EventType
from workflows.globs import MAX_MATCHED_TEXT
from workflows.limits import MAX_PROFILE_BYTES
from workflows.messages import (
    AutomationLifecycle,
    ContactKeyed,
    EnrollmentStatus,
    GoalStatus,
    ProfileAttributes,
    TimelineEntry,
    Waiting,
)

# Any printable text without whitespace or "/" (ids from a CRM: emails, UUIDs, numbers...).
CONTACT_ID_PATTERN = r"^[^\s/\x00-\x1f\x7f]{1,200}$"
ContactId = Annotated[str, StringConstraints(pattern=CONTACT_ID_PATTERN)]
AutomationId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Events, contacts and definitions travel whole in Temporal payloads (updates, signals to every
# enrollment, child workflow inputs), which Temporal refuses past 2 MB: an enrollment carries a
# definition, a contact, its context and looked-back events together, so these stay well below
# (the worst case is computed in tests/test_limits.py; docs/security.md, "Limits").
MAX_EVENT_DATA_BYTES = 1024 * 1024
MAX_CONTACT_BYTES = MAX_PROFILE_BYTES
MAX_DEFINITION_BYTES = 512 * 1024
# An enrollment's `context` travels in every step's activity input.
MAX_CONTEXT_BYTES = 16 * 1024


def fits(value: Any, limit: int, what: str) -> None:
    size = len(to_json(value))
    if size > limit:
        raise ValueError(f"{what} is {size} bytes as JSON; at most {limit} are accepted")


Tag = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Checked by email-validator (syntax only, no DNS look-up); the domain comes back normalised
# (lower case, IDNA), the local part as given.
EmailAddress = EmailStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Status(BaseModel):
    status: str


class ProfileAttributesIn(Strict):
    """The contact's own attributes (`workflows.messages.ProfileAttributes`), checked."""

    email: EmailAddress | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    first_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    last_name: Annotated[str, StringConstraints(max_length=200)] | None = None


class ContactIdIn(Strict):
    """`id` first in a model listing it after its other bases (see `workflows.messages.Keyed`)."""

    id: ContactId


class ContactIn(ProfileAttributesIn, ContactIdIn):
    tags: list[Tag] = Field(default_factory=list, max_length=500)
    fields: dict[str, Any] = Field(default_factory=dict)


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


class EventIn(Strict):
    id: EventId | None = None
    contact_id: ContactId
    type: EventType
    occurred_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _data_fits(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        fits(data, MAX_EVENT_DATA_BYTES, "data")
        # The text a `url` or `body_matches` filter reads: refused past what it would read.
        event_type = info.data.get("type")
        key = "url" if str(event_type).startswith("email.") else None
        key = "body" if event_type == "sms.received" else key
        text = data.get(key) if key else None
        if isinstance(text, str) and len(text) > MAX_MATCHED_TEXT:
            raise ValueError(
                f"data.{key} is {len(text)} characters; at most {MAX_MATCHED_TEXT} are accepted"
            )
        if info.data.get("type") == "appointment.status_changed" and "status" in data:
            data = {**data, "status": appointment_status(data["status"])}
        return data


def appointment_status(value: Any) -> str:
    """An event's `data.status`, in lower case (statuses are case-insensitive); ValueError
    naming the statuses there are when it is none of them."""
    if isinstance(value, str) and value.lower() in APPOINTMENT_STATUSES:
        return value.lower()
    raise ValueError(
        f"status {value!r} is not an appointment status; use one of "
        f"{', '.join(APPOINTMENT_STATUSES)} (any case)"
    )


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


def validation_reason(err: ValidationError) -> str:
    """A pydantic error as one line for `rejected` entries: `path.to.field: message; ...`, the
    messages in words (api/error_words.py)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in worded(err.errors(include_url=False), None)
    )


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


class EnrollmentSummary(BaseModel):
    enrollment_id: str
    automation_id: str | None
    contact_id: str | None
    version: int | None
    status: str
    current_step: str | None
    started_at: datetime | None


class EnrollmentList(BaseModel):
    enrollments: list[EnrollmentSummary]
    next_page_token: str | None


class StepCount(BaseModel):
    step_id: str
    type: str
    name: str | None
    here: int
    reached: int
    met: int | None = Field(None, description="goal steps only")

    @model_serializer(mode="wrap")
    def _met_for_goals_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.met is None:
            data.pop("met", None)
        return data


class StepCounts(BaseModel):
    automation_id: str
    version: int
    steps: list[StepCount]
