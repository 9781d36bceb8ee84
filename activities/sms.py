"""The `send_sms` step: render the body, hand it to the configured provider.

Providers share one small interface (`SmsProvider`): the dev provider writes to the same outbox
as the SMTP sink; the Twilio provider calls a Twilio-compatible Messages API whose base URL is
configurable (Twilio itself, or any service that speaks the same API). `trigger_link(id)` in a
body renders the contact's tracked URL; other URLs are left as written (tracking them would
cost a long token in every message).
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email import TEMPLATE_FAILED
from goalflow.core.send_budget import MessageBudget
from goalflow.core.settings import Settings
from goalflow.core.sms_recipients import PhoneDirectory
from goalflow.core.smtp_sink import append_message
from goalflow.core.templates import render, within_budget
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from workflows.messages import SEND_SMS, SMS_REJECTED, DeliveryResult, SmsRequest

# Client errors that a retry can fix: timeouts and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})


class SmsMessage(BaseModel):
    """One text message, as providers receive it. `key` is stable across retries (R10)."""

    key: str
    to: str
    body: str
    links: list[str]
    contact_id: str
    enrollment_id: str
    automation_id: str
    step_id: str


class SmsProvider(Protocol):
    async def send(self, message: SmsMessage) -> str:
        """Send; return the provider's message id. Raise `ApplicationError` (retryable, or
        non-retryable with type `SMS_REJECTED`) when it cannot."""
        ...


class OutboxSmsProvider:
    """Development: keep each message in the outbox that `GET /v1/dev/outbox` lists."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: SmsMessage) -> str:
        append_message(
            self.directory,
            {
                "message_id": message.key,
                "channel": "sms",
                "to": message.to,
                "from": None,
                "subject": None,
                "html": None,
                "text": message.body,
                "links": message.links,
                "sent_at": datetime.now(UTC).isoformat(),
                "enrollment_id": message.enrollment_id,
                "automation_id": message.automation_id,
                "step_id": message.step_id,
                "contact_id": message.contact_id,
            },
        )
        return message.key


class TwilioSmsProvider:
    """`POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with HTTP basic auth, as Twilio's
    Messages API (and its look-alikes) expect. A sender starting with `MG` is a Messaging
    Service SID."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
    ) -> None:
        self.http = http
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.sender = sender

    async def send(self, message: SmsMessage) -> str:
        form = {"To": message.to, "Body": message.body}
        if self.sender.startswith("MG"):
            form["MessagingServiceSid"] = self.sender
        else:
            form["From"] = self.sender
        try:
            response = await self.http.post(
                self.url,
                data=form,
                auth=self.auth,
                # Honoured by providers that deduplicate; the key is the same on every retry.
                headers={"Idempotency-Key": message.key},
            )
        except httpx.HTTPError as err:
            raise ApplicationError(f"SMS provider unreachable: {err!r}") from err  # retried
        code = response.status_code
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            raise ApplicationError(
                f"SMS provider refused the message: {code} {_reason(response)}",
                type=SMS_REJECTED,
                non_retryable=True,
            )
        if code >= 400:
            raise ApplicationError(f"SMS provider answered {code}: {_reason(response)}")
        try:
            payload: Any = response.json()
        except ValueError:
            payload = {}
        sid = payload.get("sid") if isinstance(payload, dict) else None
        return str(sid) if sid else message.key


def _reason(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(payload, dict) and "message" in payload:
        return f"{payload.get('code', '')} {payload['message']}".strip()
    return response.text[:200]


def sms_provider(settings: Settings, http: httpx.AsyncClient) -> SmsProvider:
    """The provider `GOALFLOW_SMS_PROVIDER` names; a missing setting fails at worker start."""
    if settings.sms_provider == "twilio":
        missing = [
            name
            for name, value in (
                ("GOALFLOW_TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("GOALFLOW_TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("GOALFLOW_SMS_FROM", settings.sms_from),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"GOALFLOW_SMS_PROVIDER=twilio needs {', '.join(missing)}")
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.sms_from
        return TwilioSmsProvider(
            http,
            base_url=settings.twilio_base_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sender=settings.sms_from,
        )
    return OutboxSmsProvider(settings.outbox_dir)


class SmsActivities:
    """`directory`, when given, records each recipient so that replies can be attributed
    (docs/integrations.md); it is recorded before the send, so a reply never comes first."""

    def __init__(
        self,
        provider: SmsProvider,
        tracker: Tracker,
        directory: PhoneDirectory | None = None,
        budget: MessageBudget | None = None,
    ) -> None:
        self.budget = budget
        self.provider = provider
        self.tracker = tracker
        self.directory = directory

    @activity.defn(name=SEND_SMS)
    async def send_sms(self, request: SmsRequest) -> DeliveryResult:
        context = request.context
        contact = context.contact
        if not contact.phone:
            return DeliveryResult(message_id=context.key, skipped="no_phone")
        if contact.sms_unsubscribed:
            return DeliveryResult(message_id=context.key, skipped="unsubscribed")
        links: list[str] = []

        def trigger_link(link_id: str) -> str:
            target = TrackedTarget(
                contact_id=contact.id,
                automation_id=context.automation_id,
                enrollment_id=context.enrollment_id,
                step_id=context.step_id,
                channel="sms",
                link_id=str(link_id),
            )
            url = self.tracker.url(TrackingKind.CLICK, target)
            links.append(url)
            return url

        variables = {
            **context.template_context(),
            "enrollment_id": context.enrollment_id,
            "automation_id": context.automation_id,
            "step_id": context.step_id,
            "booking_link": lambda url: self.tracker.booking_url(url, contact.id),
            "checkout_link": lambda url: self.tracker.checkout_url(url, contact.id),
        }
        try:
            # In a thread, within the step's budget: the event loop keeps serving meanwhile.
            body = await asyncio.to_thread(
                within_budget,
                functools.partial(render, request.step.body, variables, trigger_link=trigger_link),
            )
        except Exception as err:
            raise ApplicationError(
                f"template failed: {type(err).__name__}: {err}",
                type=TEMPLATE_FAILED,
                non_retryable=True,
            ) from err
        message = SmsMessage(
            key=context.key,
            to=contact.phone,
            body=body,
            links=links,
            contact_id=contact.id,
            enrollment_id=context.enrollment_id,
            automation_id=context.automation_id,
            step_id=context.step_id,
        )
        if self.budget is not None and (held := await self.budget.ask(context, "sms")):
            return held
        if self.directory is not None:
            await self.directory.remember(contact.phone, contact.id)
        sent = DeliveryResult(message_id=await self.provider.send(message))
        if self.budget is not None:
            await self.budget.sent(context, "sms")
        return sent
