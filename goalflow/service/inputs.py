"""What callers hand the service, validated the same way whoever calls: an event (`POST
/v1/events`, `goalflow.client`, provider hooks) and a contact (enrollments, bulk rows). The HTTP
API's other request and response models are in `api/schemas.py`, which re-exports these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_json

from goalflow.service.error_words import worded
from workflows.definition import APPOINTMENT_STATUSES, EventType
from workflows.globs import MAX_MATCHED_TEXT
from workflows.limits import MAX_PROFILE_BYTES

# Any printable text without whitespace or "/" (ids from a CRM: emails, UUIDs, numbers...).
CONTACT_ID_PATTERN = r"^[^\s/\x00-\x1f\x7f]{1,200}$"
ContactId = Annotated[str, StringConstraints(pattern=CONTACT_ID_PATTERN)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Events and contacts travel whole in Temporal payloads (updates, signals to every enrollment,
# child workflow inputs), which Temporal refuses past 2 MB: an enrollment carries a definition,
# a contact, its context and looked-back events together, so these stay well below (the worst
# case is computed in tests/test_limits.py; docs/security.md, "Limits").
MAX_EVENT_DATA_BYTES = 1024 * 1024
MAX_CONTACT_BYTES = MAX_PROFILE_BYTES


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


def validation_reason(err: ValidationError) -> str:
    """A pydantic error as one line for `rejected` entries: `path.to.field: message; ...`, the
    messages in words (goalflow/service/error_words.py)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in worded(err.errors(include_url=False), None)
    )
