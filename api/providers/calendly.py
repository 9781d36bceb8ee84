"""Calendly webhooks (Calendly "Webhook Signatures"): `Calendly-Webhook-Signature:
t=<unix>,v1=<hex>`, v1 the HMAC-SHA256 of `"<t>." + raw body` under the subscription's signing
key (GOALFLOW_CALENDLY_SIGNING_KEY). The body is `{"event", "created_at", "created_by",
"payload"}`, the payload an invitee (one booking by one person).

Bookings are attributed by the token `{{ booking_link(url) }}` put in the booking URL's
`utm_content`, which Calendly hands back in `payload.tracking.utm_content`; a booking without
it (made from a link shared elsewhere) by the invitee's `payload.email`, looked up among the
contacts' profiles. A no-show names its invitee only by URI: the token alone attributes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from api.providers import (
    NO_TOKEN,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    appointment_events,
    as_dict,
    equal,
    fresh,
    header,
    no_meaning,
    text,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker

SIGNATURE = "Calendly-Webhook-Signature"
# A booking made on Calendly is confirmed at once: it is both new and confirmed.
STATUSES = {
    "invitee.created": ["new", "confirmed"],
    "invitee.canceled": ["cancelled"],
    "invitee_no_show.created": ["noshow"],
}


class Calendly:
    name = "calendly"

    def secret(self, settings: Settings) -> str | None:
        return settings.calendly_signing_key or None

    def verify(self, request: HookRequest, secret: str) -> None:
        parts = dict(
            part.strip().partition("=")[::2] for part in header(request, SIGNATURE).split(",")
        )
        timestamp, given = parts.get("t"), parts.get("v1")
        if not timestamp or not given:
            raise Unauthorized(f"{SIGNATURE} needs t= and v1=")
        fresh(timestamp, request.now)
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        if not equal(given, expected):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        try:
            body = as_dict(json.loads(request.body), "the body")
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        statuses = STATUSES.get(str(body.get("event")))
        payload = as_dict(body.get("payload"), "payload")
        # A no-show names its invitee by URI; an invitee is its own booking.
        booking_id = text(payload.get("invitee")) or text(payload.get("uri"))
        tracking = payload.get("tracking")
        token = tracking.get("utm_content") if isinstance(tracking, dict) else None
        target = tracker.verify("booking", token)
        email = text(payload.get("email"))
        if statuses is None:
            return Translation.ignore(no_meaning("event", body.get("event")))
        if booking_id is None:
            return Translation.ignore("payload has no invitee URI (payload.uri)")
        if target is None and email is None:
            return Translation.ignore(
                f"{NO_TOKEN} in payload.tracking.utm_content and no invitee email (payload.email)"
            )
        scheduled = payload.get("scheduled_event")
        calendar_id = text(scheduled.get("event_type")) if isinstance(scheduled, dict) else None
        return Translation(
            events=appointment_events("calendly", booking_id, statuses, target, calendar_id, email)
        )
