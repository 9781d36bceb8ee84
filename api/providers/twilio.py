"""Twilio messaging webhooks (Twilio "Webhooks security"): `X-Twilio-Signature` is the base64
HMAC-SHA1, under the account's auth token (GOALFLOW_TWILIO_AUTH_TOKEN), of the full URL Twilio
was given followed by every POST parameter, sorted by name, as name + value with no separators.
The URL is rebuilt from GOALFLOW_PUBLIC_URL, so it must be exactly the one set in Twilio.

Both the incoming-message webhook (a reply: `sms.received`) and message status callbacks
(`sms.delivered`, `sms.failed`) come here, form-encoded. Twilio's opt-out keywords (STOP, ...)
also mark the contact SMS-unsubscribed; its opt-in keywords (START, ...) clear that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl

from api.providers import (
    HookEvent,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    equal,
    header,
    no_meaning,
)
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker

SIGNATURE = "X-Twilio-Signature"
# Twilio's default opt-out and opt-in keywords (matched on the whole message, any case).
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
STATUSES = {"delivered": "sms.delivered", "failed": "sms.failed", "undelivered": "sms.failed"}


def _params(request: HookRequest) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(request.body)
        )
    except (UnicodeDecodeError, ValueError) as err:
        raise Malformed(f"body is not form-encoded: {err}") from err


def signature_of(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    # As Twilio's own validator: names sorted, each value once, values of a name sorted.
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Twilio:
    name = "twilio"

    def secret(self, settings: Settings) -> str | None:
        return settings.twilio_auth_token or None

    def verify(self, request: HookRequest, secret: str) -> None:
        given = header(request, SIGNATURE)
        try:
            params = _params(request)
        except Malformed as err:
            raise Unauthorized("bad signature") from err
        if not equal(given, signature_of(request.public_url, params, secret)):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        form = dict(_params(request))
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise Malformed("MessageSid is missing")
        status = form.get("MessageStatus")
        if status is not None:
            kind = STATUSES.get(status)
            if kind is None:
                return Translation.ignore(no_meaning("MessageStatus", status))
            if not form.get("To"):
                return Translation.ignore("no To number")
            data: dict[str, Any] = {"message_sid": sid, "status": status, "provider": "twilio"}
            if form.get("ErrorCode"):
                data["error_code"] = form["ErrorCode"]
            event = HookEvent(f"twilio:{sid}:{status}", kind, data, phone=form["To"])
            return Translation(events=[event])
        sender = form.get("From")
        if not sender or "Body" not in form:
            return Translation.ignore("an inbound message needs From and Body")
        body = form["Body"]
        keyword = (form.get("OptOutType") or body).strip().upper()
        data = {"body": body, "message_sid": sid, "provider": "twilio"}
        if keyword in OPT_OUT:
            data["opt_out"] = True
        elif keyword in OPT_IN:
            data["opt_in"] = True
        return Translation(events=[HookEvent(f"twilio:{sid}", "sms.received", data, phone=sender)])
