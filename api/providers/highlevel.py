"""HighLevel webhooks (HighLevel Marketplace "Webhook Integration Guide" and "Webhook
Authentication"): `x-wh-signature` is the base64 RSA (PKCS#1 v1.5) SHA-256 signature of the
raw body under HighLevel's key; goalflow verifies it with the public key in
GOALFLOW_HIGHLEVEL_PUBLIC_KEY (PEM). The body's `timestamp` must be within 5 minutes and its
`webhookId` names the delivery: a repeated one is a duplicate.

`ContactCreate` is `contact.created`; `ContactTagUpdate` (the contact's whole tag set, the
contact in `id`) becomes `contact.tag_added`/`contact.tag_removed` for the tags that differ
from the goalflow contact's; `AppointmentCreate|AppointmentUpdate` is
`appointment.status_changed` (`appointmentStatus` is already one of goalflow's statuses);
`InboundMessage` of type SMS is `sms.received`. The contact id is HighLevel's: `contactId`,
or `id` for contact events.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from api.providers import (
    HookEvent,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    as_dict,
    fresh,
    header,
    no_meaning,
    text,
)
from api.providers.stripe import CONTACT_ID
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker
from workflows.definition import APPOINTMENT_STATUSES

SIGNATURE = "x-wh-signature"
MAX_TAG_LENGTH = 200


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.replace("\\n", "\n").encode())
    except ValueError as err:
        raise Unauthorized("GOALFLOW_HIGHLEVEL_PUBLIC_KEY is not a PEM public key") from err
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthorized("GOALFLOW_HIGHLEVEL_PUBLIC_KEY is not an RSA public key")
    return key


def _unix(value: Any) -> float | None:
    """The body's `timestamp`: ISO 8601 (HighLevel's way), or Unix seconds/milliseconds."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000 if value > 1e11 else float(value)
    return None


def _contact(value: Any) -> str | None:
    return value if isinstance(value, str) and CONTACT_ID.match(value) else None


class HighLevel:
    name = "highlevel"

    def secret(self, settings: Settings) -> str | None:
        return settings.highlevel_public_key or None

    def verify(self, request: HookRequest, secret: str) -> None:
        try:
            signature = base64.b64decode(header(request, SIGNATURE), validate=True)
        except (binascii.Error, ValueError) as err:
            raise Unauthorized("bad signature") from err
        try:
            _public_key(secret).verify(signature, request.body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as err:
            raise Unauthorized("bad signature") from err
        try:
            body = json.loads(request.body)
        except ValueError as err:
            raise Unauthorized("missing or invalid signature timestamp") from err
        at = _unix(body.get("timestamp")) if isinstance(body, dict) else None
        fresh(at, request.now)

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        body = as_dict(json.loads(request.body), "the body")
        delivery = text(body.get("webhookId"))
        if delivery is None:
            raise Malformed("the body has no webhookId")
        kind = body.get("type")
        event_id = f"highlevel:{delivery}"
        common = {"provider": "highlevel", "location_id": text(body.get("locationId"))}
        common = {k: v for k, v in common.items() if v is not None}
        if kind in ("ContactCreate", "ContactTagUpdate"):
            contact_id = _contact(body.get("id"))
            if contact_id is None:
                return Translation.ignore("names no contact: no contact id (id)")
            if kind == "ContactCreate":
                return Translation(
                    events=[HookEvent(event_id, "contact.created", common, contact_id=contact_id)]
                )
            tags = body.get("tags")
            if not isinstance(tags, list) or not all(
                isinstance(t, str) and 0 < len(t) <= MAX_TAG_LENGTH for t in tags
            ):
                raise Malformed(f"tags must be a list of 1 to {MAX_TAG_LENGTH} character strings")
            # The route compares the set with the contact's tags (api.attribution.set_tags).
            event = HookEvent(event_id, "contact.tag_added", common, contact_id=contact_id)
            event.tags = list(tags)
            return Translation(events=[event])
        if kind in ("AppointmentCreate", "AppointmentUpdate"):
            appointment = as_dict(body.get("appointment"), "appointment")
            return self._appointment(event_id, appointment, common)
        if kind == "InboundMessage":
            if body.get("messageType") != "SMS":
                return Translation.ignore(no_meaning("messageType", body.get("messageType")))
            contact_id = _contact(body.get("contactId"))
            if contact_id is None:
                return Translation.ignore("names no contact: no contactId")
            data = {**common, "body": str(body.get("body") or "")}
            if text(body.get("messageId")):
                data["message_id"] = body["messageId"]
            return Translation(
                events=[HookEvent(event_id, "sms.received", data, contact_id=contact_id)]
            )
        return Translation.ignore(no_meaning("type", kind))

    def _appointment(
        self, event_id: str, appointment: dict[str, Any], common: dict[str, Any]
    ) -> Translation:
        status = str(appointment.get("appointmentStatus") or "").lower()
        if status not in APPOINTMENT_STATUSES:
            return Translation.ignore(
                no_meaning("appointmentStatus", appointment.get("appointmentStatus"))
            )
        contact_id = _contact(appointment.get("contactId"))
        if contact_id is None:
            return Translation.ignore("names no contact: no appointment.contactId")
        data = {**common, "status": status, "appointment_id": text(appointment.get("id"))}
        if text(appointment.get("calendarId")):
            data["calendar_id"] = appointment["calendarId"]
        data = {k: v for k, v in data.items() if v is not None}
        return Translation(
            events=[HookEvent(event_id, "appointment.status_changed", data, contact_id=contact_id)]
        )
