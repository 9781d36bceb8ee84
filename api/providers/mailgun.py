"""Mailgun webhooks (Mailgun "Securing Webhooks"): a JSON body `{"signature": {"timestamp",
"token", "signature"}, "event-data": {...}}`, one event per request; `signature` is the hex
HMAC-SHA256 of timestamp + token (no separator) under the webhook signing key
(GOALFLOW_MAILGUN_SIGNING_KEY). Mailgun's legacy form-encoded webhooks are not supported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
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
    first_target,
    fresh,
    no_meaning,
    text,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import ATTRIBUTION_KEY, Tracker, target_of_message_id

EVENTS = {
    "delivered": "email.delivered",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "complained": "email.complained",
    "unsubscribed": "email.unsubscribed",
    # `failed` is a bounce when its severity is permanent; temporary failures are retried by
    # Mailgun and ignored here.
    "failed": "email.bounced",
}


def _body(request: HookRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError as err:
        raise Malformed(f"body is not JSON: {err}") from err
    return as_dict(body, "the body")


class Mailgun:
    name = "mailgun"

    def secret(self, settings: Settings) -> str | None:
        return settings.mailgun_signing_key or None

    def verify(self, request: HookRequest, secret: str) -> None:
        signature = _body(request).get("signature")
        if not isinstance(signature, dict):
            raise Unauthorized("missing signature object")
        timestamp, token, given = (
            signature.get("timestamp"),
            signature.get("token"),
            signature.get("signature"),
        )
        if not (isinstance(token, str) and isinstance(given, str)):
            raise Unauthorized("missing signature fields")
        if not isinstance(timestamp, str | int) or isinstance(timestamp, bool):
            raise Unauthorized("missing signature timestamp")
        fresh(timestamp, request.now)
        expected = hmac.new(
            secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
        ).hexdigest()
        if not equal(given.lower(), expected):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        event = as_dict(_body(request).get("event-data"), "event-data")
        kind = EVENTS.get(str(event.get("event")))
        event_id = text(event.get("id"))
        if kind == "email.bounced" and event.get("severity") != "permanent":
            kind = None
        if kind is None:
            return Translation.ignore(no_meaning("event", event.get("event")))
        if event_id is None:
            return Translation.ignore("no event-data.id")
        message = event.get("message")
        headers = message.get("headers") if isinstance(message, dict) else None
        message_id = text(headers.get("message-id")) if isinstance(headers, dict) else None
        variables = event.get("user-variables")
        token = variables.get(ATTRIBUTION_KEY) if isinstance(variables, dict) else None
        target = first_target(
            lambda: tracker.verify("attribution", token),
            lambda: target_of_message_id(message_id) if message_id else None,
        )
        if target is None:
            return Translation.ignore(
                f"{NO_TOKEN} in user-variables and no goalflow Message-ID in message.headers"
            )
        extra: dict[str, Any] = {}
        if kind == "email.clicked":
            extra["url"] = text(event.get("url"))
        if kind == "email.bounced":
            status = event.get("delivery-status")
            extra["reason"] = text(status.get("message")) if isinstance(status, dict) else None
        timestamp = event.get("timestamp")
        occurred_at = (
            datetime.fromtimestamp(timestamp, UTC)
            if isinstance(timestamp, int | float) and 0 <= timestamp < 1e11
            else None
        )
        return Translation(
            events=[
                HookEvent(
                    event_id=f"mailgun:{event_id}",
                    type=kind,
                    data=email_data(target, "mailgun", **extra),
                    contact_id=target.contact_id,
                    occurred_at=occurred_at,
                )
            ]
        )
