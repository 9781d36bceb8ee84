"""Postmark webhooks (Postmark "Webhooks overview"): Postmark signs nothing; a webhook URL may
carry HTTP basic auth credentials (`https://user:password@host/...`), which Postmark sends as an
`Authorization: Basic` header. GOALFLOW_POSTMARK_WEBHOOK_AUTH holds that `user:password`. One
JSON object per request, its kind in `RecordType`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from api.providers import (
    NO_TOKEN,
    HookEvent,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    as_dict,
    email_data,
    equal,
    header,
    no_meaning,
    text,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import ATTRIBUTION_KEY, Tracker

# Bounce types that mean the address will not receive mail (soft bounces and transient
# failures are retried by Postmark and ignored here).
HARD_BOUNCES = frozenset(
    {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked", "DMARCPolicy"}
)
# The field holding when each kind of event happened: part of the event id, as Postmark gives
# most records no id of their own.
WHEN = {
    "Delivery": "DeliveredAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "SubscriptionChange": "ChangedAt",
}


class Postmark:
    name = "postmark"

    def secret(self, settings: Settings) -> str | None:
        return settings.postmark_webhook_auth or None

    def verify(self, request: HookRequest, secret: str) -> None:
        scheme, _, encoded = header(request, "Authorization").partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("Postmark webhooks authenticate with HTTP basic auth")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (ValueError, binascii.Error) as err:
            raise Unauthorized("bad basic auth credentials") from err
        if not equal(given, secret.encode()):
            raise Unauthorized("bad basic auth credentials")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        try:
            record = as_dict(json.loads(request.body), "the body")
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        kind = _kind(record)
        metadata = record.get("Metadata")
        token = metadata.get(ATTRIBUTION_KEY) if isinstance(metadata, dict) else None
        target = tracker.verify("attribution", token)
        if kind is None:
            return Translation.ignore(no_meaning("RecordType", record.get("RecordType")))
        if target is None:
            return Translation.ignore(f"{NO_TOKEN} in Metadata")
        extra: dict[str, Any] = {}
        if kind == "email.clicked":
            extra["url"] = text(record.get("OriginalLink"))
        if kind == "email.bounced":
            extra["reason"] = text(record.get("Description"))
        return Translation(
            events=[
                HookEvent(
                    event_id=f"postmark:{_event_id(record)}",
                    type=kind,
                    data=email_data(target, "postmark", **extra),
                    contact_id=target.contact_id,
                )
            ]
        )


def _kind(record: dict[str, Any]) -> str | None:
    match record.get("RecordType"):
        case "Delivery":
            return "email.delivered"
        case "Open":
            return "email.opened"
        case "Click":
            return "email.clicked"
        case "Bounce" if record.get("Type") in HARD_BOUNCES:
            return "email.bounced"
        case "SpamComplaint":
            return "email.complained"
        case "SubscriptionChange" if (
            record.get("SuppressSending") is True
            and record.get("SuppressionReason") == "ManualSuppression"
        ):
            return "email.unsubscribed"
    return None


def _event_id(record: dict[str, Any]) -> str:
    """Bounces and complaints carry an `ID`; other records are named by what they are about,
    so that Postmark's retry of one record is the same event."""
    kind = str(record.get("RecordType"))
    if isinstance(record.get("ID"), int | str) and kind in ("Bounce", "SpamComplaint"):
        return f"{kind}:{record['ID']}"
    about = [
        kind,
        record.get("MessageID"),
        record.get(WHEN.get(kind, "")),
        record.get("OriginalLink"),
    ]
    digest = hashlib.sha256(json.dumps(about, default=str).encode()).hexdigest()[:32]
    return f"{kind}:{digest}"
