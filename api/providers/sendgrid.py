"""SendGrid Event Webhook, signed (Twilio SendGrid "Getting Started with the Event Webhook
Security Features"): ECDSA P-256 with SHA-256 over the `X-Twilio-Email-Event-Webhook-Timestamp`
header followed by the raw body, the signature base64 DER in
`X-Twilio-Email-Event-Webhook-Signature`, checked with the base64 DER public key SendGrid shows
(GOALFLOW_SENDGRID_PUBLIC_KEY). The body is a JSON array of events.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from api.providers import (
    NO_TOKEN,
    HookEvent,
    HookRequest,
    Ignored,
    Malformed,
    Translation,
    Unauthorized,
    email_data,
    first_target,
    fresh,
    header,
    no_meaning,
    text,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import ATTRIBUTION_KEY, Tracker, target_of_message_id

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"

EVENTS = {
    "delivered": "email.delivered",
    "open": "email.opened",
    "click": "email.clicked",
    "bounce": "email.bounced",
    "spamreport": "email.complained",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
}


@lru_cache(maxsize=4)
def _public_key(encoded: str) -> ec.EllipticCurvePublicKey | None:
    try:
        key = load_der_public_key(base64.b64decode(encoded.strip(), validate=True))
    except (ValueError, binascii.Error, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


class SendGrid:
    name = "sendgrid"

    def secret(self, settings: Settings) -> str | None:
        return settings.sendgrid_public_key or None

    def verify(self, request: HookRequest, secret: str) -> None:
        signature = header(request, SIGNATURE)
        timestamp = header(request, TIMESTAMP)
        fresh(timestamp, request.now)
        key = _public_key(secret)
        if key is None:
            raise Unauthorized("GOALFLOW_SENDGRID_PUBLIC_KEY is not a base64 ECDSA public key")
        try:
            der = base64.b64decode(signature, validate=True)
            key.verify(der, timestamp.encode() + request.body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, binascii.Error) as err:
            raise Unauthorized("bad signature") from err

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        try:
            events = json.loads(request.body)
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        if not isinstance(events, list):
            raise Malformed("body must be a JSON array of events")
        out = Translation()
        for index, event in enumerate(events):
            translated = (
                _translate(event, tracker) if isinstance(event, dict) else "not a JSON object"
            )
            if isinstance(translated, str):
                out.ignored.append(Ignored(index, translated))
            else:
                translated.index = index
                out.events.append(translated)
        return out


def _translate(event: dict[str, Any], tracker: Tracker) -> HookEvent | str:
    """The goalflow event, or why there is none."""
    kind = EVENTS.get(str(event.get("event")))
    event_id = text(event.get("sg_event_id"))
    if kind is None:
        return no_meaning("event", event.get("event"))
    if event_id is None:
        return "no sg_event_id"
    message_id = text(event.get("smtp-id"))
    target = first_target(
        lambda: tracker.verify("attribution", event.get(ATTRIBUTION_KEY)),
        lambda: target_of_message_id(message_id) if message_id else None,
    )
    if target is None:
        return f"{NO_TOKEN} in unique_args and no goalflow Message-ID in smtp-id"
    extra: dict[str, Any] = {}
    if kind == "email.clicked":
        extra["url"] = text(event.get("url"))
    if kind == "email.bounced":
        extra["reason"] = text(event.get("reason"))
    timestamp = event.get("timestamp")
    occurred_at = (
        datetime.fromtimestamp(timestamp, UTC)
        if isinstance(timestamp, int | float) and 0 <= timestamp < 1e11
        else None
    )
    return HookEvent(
        event_id=f"sendgrid:{event_id}",
        type=kind,
        data=email_data(target, "sendgrid", **extra),
        contact_id=target.contact_id,
        occurred_at=occurred_at,
    )
