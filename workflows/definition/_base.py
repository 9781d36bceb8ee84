"""The automation definition (docs/automations.md): pydantic models for steps and goal criteria.

Parsing and validation happen in the API (see `goalflow.core.validation`); workflows receive an
already-validated snapshot and never re-validate it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
)

from workflows.durations import parse_duration

STEP_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]

EmailEvent = Literal[
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.replied",
    "email.unsubscribed",
    "email.bounced",
    "email.complained",
]
EMAIL_EVENTS: tuple[str, ...] = get_args(EmailEvent)
AppointmentStatus = Literal["new", "confirmed", "cancelled", "showed", "noshow", "invalid"]
APPOINTMENT_STATUSES: tuple[str, ...] = get_args(AppointmentStatus)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Enumerated values are case-insensitive: `Confirmed` (HighLevel's spelling) is `confirmed`.
AnyCaseStatus = Annotated[AppointmentStatus, BeforeValidator(_lower)]
# Every event type: the email events above, then the others.
EventType = Literal[
    EmailEvent,
    "trigger_link.clicked",
    "contact.tag_added",
    "contact.tag_removed",
    "appointment.status_changed",
    "custom",
    "contact.updated",
    "contact.created",
    "sms.received",
    "sms.delivered",
    "sms.failed",
    "payment.succeeded",
    "payment.refunded",
    "subscription.started",
    "subscription.cancelled",
    "order.placed",
    "order.fulfilled",
    "order.cancelled",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
