"""Provider webhooks in: one module per provider, each verifying requests exactly as the provider
documents and translating its events into goalflow events (docs/integrations.md).

A provider module offers a `Provider`: `secret(settings)` (None: the route answers 404),
`verify(request, secret)` (raises `Unauthorized`) and `translate(request, tracker)` (raises
`Malformed`) giving `HookEvent`s. Events are attributed to contacts here, from what the request
carries (signed tokens, Message-IDs); SMS name a phone number and bookings without a token an
email address, which the route looks up (`api.attribution`). Every provider event that does not
become a goalflow event is `Ignored` with the reason, which the answer and the log give.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from goalflow.core.settings import Settings
from goalflow.core.tracking import TrackedTarget, Tracker

# Where the provider signs a timestamp, older (or further in the future) than this is refused:
# a captured request cannot be replayed later.
TIMESTAMP_TOLERANCE_SECONDS = 300


class Unauthorized(Exception):
    """Missing or bad signature, or a stale timestamp: 401, nothing recorded."""


class Malformed(Exception):
    """A verified request whose body is not what the provider sends: 400."""


@dataclass(frozen=True)
class HookRequest:
    body: bytes
    headers: Mapping[str, str]
    # The URL the provider was given (GOALFLOW_PUBLIC_URL + path + query): Twilio signs it.
    public_url: str
    now: float = field(default_factory=time.time)


@dataclass
class HookEvent:
    """One goalflow event from a provider event. `contact_id` None with `phone` or `email` set:
    the route looks the number or address up; all None: ignored (no contact could be named).
    `index`: the provider event's position in the request (0 for a request of one)."""

    event_id: str
    type: str
    data: dict[str, Any]
    contact_id: str | None = None
    phone: str | None = None
    occurred_at: datetime | None = None
    email: str | None = None
    index: int = 0
    # HighLevel's ContactTagUpdate: the contact's whole tag set; the route turns the difference
    # with goalflow's tags into tag changes (api.attribution.set_tags).
    tags: list[str] | None = None


@dataclass(frozen=True)
class Ignored:
    """A provider event that became no goalflow event, and why (said in the answer and the
    log)."""

    index: int
    reason: str


@dataclass
class Translation:
    events: list[HookEvent] = field(default_factory=list)
    # Provider events with no goalflow meaning, or that name no contact.
    ignored: list[Ignored] = field(default_factory=list)

    @classmethod
    def ignore(cls, reason: str, index: int = 0) -> Translation:
        return cls(ignored=[Ignored(index, reason)])


def no_meaning(field_name: str, value: Any) -> str:
    return f"{field_name} {value!r} has no goalflow meaning"


NO_TOKEN = "names no contact: no goalflow token"


class Provider(Protocol):
    name: str

    def secret(self, settings: Settings) -> str | None: ...

    def verify(self, request: HookRequest, secret: str) -> None: ...

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation: ...


def equal(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two signatures."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def fresh(timestamp: str | int | float | None, now: float) -> None:
    """Raise Unauthorized unless `timestamp` (Unix seconds) is within the tolerance of now."""
    try:
        at = float(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise Unauthorized("missing or invalid signature timestamp") from err
    if not abs(now - at) <= TIMESTAMP_TOLERANCE_SECONDS:
        raise Unauthorized("signature timestamp outside the 5 minute tolerance")


def header(request: HookRequest, name: str) -> str:
    value = request.headers.get(name)
    if not value:
        raise Unauthorized(f"missing {name} header")
    return value


def email_data(target: TrackedTarget, provider: str, **extra: Any) -> dict[str, Any]:
    """What email events carry for goal criteria, as the tracking endpoints give them."""
    data: dict[str, Any] = {
        "email_step": target.step_id,
        "automation_id": target.automation_id,
        "enrollment_id": target.enrollment_id,
        "provider": provider,
        **extra,
    }
    return {k: v for k, v in data.items() if v is not None}


def first_target(*candidates: Callable[[], TrackedTarget | None]) -> TrackedTarget | None:
    """The first candidate that names a contact (each is tried only if the ones before fail)."""
    for candidate in candidates:
        target = candidate()
        if target is not None:
            return target
    return None


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be a JSON object")
    return value


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def appointment_events(
    provider: str,
    booking_id: str,
    statuses: list[str],
    target: TrackedTarget | None,
    calendar_id: str | None,
    email: str | None = None,
) -> list[HookEvent]:
    """`appointment.status_changed`, one per status, each id naming the booking and status:
    a status a booking already had (a provider's retry, or "new" seen twice) is a duplicate.
    Attributed by the booking link's token (`target`), else by the invitee's `email`, which
    the route looks up among the profiles."""
    data: dict[str, Any] = {"appointment_id": booking_id, "provider": provider}
    if calendar_id is not None:
        data["calendar_id"] = calendar_id
    return [
        HookEvent(
            event_id=f"{provider}:{booking_id}:{status}",
            type="appointment.status_changed",
            data={"status": status, **data},
            contact_id=target.contact_id if target is not None else None,
            email=None if target is not None else email,
        )
        for status in statuses
    ]
