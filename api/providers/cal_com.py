"""Cal.com webhooks (Cal.com "Webhooks", verifying with the secret): `X-Cal-Signature-256` is
the hex HMAC-SHA256 of the raw body under the webhook's secret (GOALFLOW_CALCOM_SECRET). Cal.com
signs no timestamp. The body is `{"triggerEvent", "createdAt", "payload"}`, the payload a
booking with its `uid`.

Bookings are attributed by the token `{{ booking_link(url) }}` put in the booking URL as
`metadata[goalflow]`, which Cal.com keeps in the booking's `metadata`; a booking without it
(made from a link shared elsewhere) by the booker's email (`payload.attendees[0].email`, else
`payload.responses.email.value`), looked up among the contacts' profiles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from api.providers import (
    NO_TOKEN,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    appointment_events,
    as_dict,
    equal,
    header,
    no_meaning,
    text,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker

SIGNATURE = "X-Cal-Signature-256"
STATUSES = {
    # Needs the organizer's confirmation.
    "BOOKING_REQUESTED": ["new"],
    # Booked (or confirmed after a request): "new" is a duplicate when it was requested first.
    "BOOKING_CREATED": ["new", "confirmed"],
    # The new booking (its own uid) of a reschedule.
    "BOOKING_RESCHEDULED": ["new", "confirmed"],
    "BOOKING_CANCELLED": ["cancelled"],
    "BOOKING_REJECTED": ["invalid"],
}


class CalCom:
    name = "cal_com"

    def secret(self, settings: Settings) -> str | None:
        return settings.calcom_secret or None

    def verify(self, request: HookRequest, secret: str) -> None:
        given = header(request, SIGNATURE).strip().lower().removeprefix("sha256=")
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not equal(given, expected):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        try:
            body = as_dict(json.loads(request.body), "the body")
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        statuses = STATUSES.get(str(body.get("triggerEvent")))
        payload = as_dict(body.get("payload"), "payload")
        booking_id = text(payload.get("uid"))
        metadata = payload.get("metadata")
        token = metadata.get("goalflow") if isinstance(metadata, dict) else None
        target = tracker.verify("booking", token)
        email = _booker_email(payload)
        if statuses is None:
            return Translation.ignore(no_meaning("triggerEvent", body.get("triggerEvent")))
        if booking_id is None:
            return Translation.ignore("payload has no booking uid")
        if target is None and email is None:
            return Translation.ignore(
                f"{NO_TOKEN} in payload.metadata.goalflow and no attendee email "
                "(payload.attendees[0].email)"
            )
        event_type = payload.get("eventTypeId")
        calendar_id = str(event_type) if isinstance(event_type, int | str) else None
        return Translation(
            events=appointment_events("cal_com", booking_id, statuses, target, calendar_id, email)
        )


def _booker_email(payload: dict[str, Any]) -> str | None:
    attendees = payload.get("attendees")
    first = attendees[0] if isinstance(attendees, list) and attendees else None
    if isinstance(first, dict) and (found := text(first.get("email"))):
        return found
    responses = payload.get("responses")
    answer = responses.get("email") if isinstance(responses, dict) else None
    return text(answer.get("value")) if isinstance(answer, dict) else None
