"""The `send_email` step: render, track, send over SMTP.

The templates run in Jinja2's sandbox with `contact.*`, `trigger_link(id)` and
`unsubscribe_url`. Every http(s) link is then rewritten to a signed click URL under
`GOALFLOW_PUBLIC_URL`, a 1×1 open pixel and an unsubscribe link are added, and the message
goes out with a `Message-ID` derived from enrollment + step + visit (R10): a retry after a crash
in mid-send repeats the same Message-ID, so the repeat can be recognised downstream.

SMTP 4xx replies and connection errors are retried by Temporal; a 5xx reply is a permanent
`SMTP_REJECTED` failure that the enrollment records in its timeline.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.addresses import SmtpAddress, header_address, smtp_address
from goalflow.core.send_budget import MessageBudget
from goalflow.core.templates import render, within_budget
from goalflow.core.tracking import (
    ATTRIBUTION_KEY,
    TrackedTarget,
    Tracker,
    TrackingKind,
    message_id_for,
)
from workflows.messages import (
    SEND_EMAIL,
    SMTP_REJECTED,
    DeliveryResult,
    EmailRequest,
    StepContext,
)

# The name of goalflow's token among an email provider's custom arguments / variables /
# metadata (SendGrid `unique_args`, Mailgun `X-Mailgun-Variables`, Postmark `X-PM-Metadata-*`).
COMPACT: dict[str, Any] = {"separators": (",", ":")}

# Permanent problems with the message itself (not the server): not retried.
TEMPLATE_FAILED = "TemplateFailed"
INVALID_MESSAGE = "InvalidMessage"

_ANCHOR = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""((?<![\w-])href\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_TEXT_URL = re.compile(r"""https?://[^\s<>"']+[^\s<>"'.,;:!?)\]]""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send, parsed from `GOALFLOW_SMTP_URL`:
    `smtp://[user:pass@]host[:port][?starttls=true][&verify=false]`, `smtps://` for TLS from
    the first byte."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False
    validate_certs: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"GOALFLOW_SMTP_URL must start with smtp:// or smtps://, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"GOALFLOW_SMTP_URL has no host: {url!r}")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=not implicit_tls and query.get("starttls") in ("true", "1", "yes"),
            validate_certs=query.get("verify") not in ("false", "0", "no"),
            timeout=float(query.get("timeout", 30)),
        )


def rewrite_links(source: str, track: Callable[[str], str | None]) -> str:
    """Replace the href of each <a> tag by `track(url)` when that gives a URL; other attributes,
    tags and text are left as written."""

    def anchor(tag: re.Match[str]) -> str:
        def href(found: re.Match[str]) -> str:
            raw = next(g for g in found.groups()[1:] if g is not None)
            tracked = track(html.unescape(raw).strip())
            if tracked is None:
                return found.group(0)
            return f'{found.group(1)}"{html.escape(tracked, quote=True)}"'

        return _HREF.sub(href, tag.group(0), count=1)

    return _ANCHOR.sub(anchor, source)


def rewrite_text_links(text: str, track: Callable[[str], str | None]) -> str:
    return _TEXT_URL.sub(lambda m: track(m.group(0)) or m.group(0), text)


def _before_body_end(source: str, addition: str) -> str:
    ends = list(_BODY_END.finditer(source))
    if not ends:
        return source + addition
    at = ends[-1].start()
    return source[:at] + addition + source[at:]


class EmailComposer:
    """Builds the message for one step and contact; no I/O, so tests can read what is sent."""

    def __init__(self, tracker: Tracker, sender: str) -> None:
        self.tracker = tracker
        self.sender = sender
        try:  # the Message-ID's domain, ASCII like every header's
            self.domain = header_address(sender)[1].domain
        except ValueError:
            self.domain = parseaddr(sender)[1].rpartition("@")[2] or "goalflow.local"

    def _target(self, context: StepContext, **extra: Any) -> TrackedTarget:
        return TrackedTarget(
            contact_id=context.contact.id,
            automation_id=context.automation_id,
            enrollment_id=context.enrollment_id,
            step_id=context.step_id,
            channel="email",
            **extra,
        )

    def compose(self, request: EmailRequest) -> EmailMessage:
        step, context = request.step, request.context
        contact = context.contact
        if not contact.email:
            raise ValueError("the contact has no email address")
        tracker = self.tracker
        unsubscribe_url = tracker.url(TrackingKind.UNSUBSCRIBE, self._target(context))
        open_url = tracker.url(TrackingKind.OPEN, self._target(context))

        def trigger_link(link_id: str) -> str:
            return tracker.url(TrackingKind.CLICK, self._target(context, link_id=str(link_id)))

        def track(url: str) -> str | None:
            if not url.lower().startswith(("http://", "https://")):
                return None  # mailto:, tel:, #anchors, merge fields left empty
            if tracker.is_tracking_url(url):
                return None  # trigger links and the unsubscribe link are tracked already
            return tracker.url(TrackingKind.CLICK, self._target(context, url=url))

        variables = {
            **context.template_context(),
            "unsubscribe_url": unsubscribe_url,
            "enrollment_id": context.enrollment_id,
            "automation_id": context.automation_id,
            "step_id": context.step_id,
            "booking_link": lambda url: tracker.booking_url(url, contact.id),
            "checkout_link": lambda url: tracker.checkout_url(url, contact.id),
        }
        subject = _render(step.subject, variables, trigger_link, autoescape=False)
        body = rewrite_links(_render(step.html, variables, trigger_link, autoescape=True), track)
        footer = ""
        if unsubscribe_url not in body:
            footer += (
                '<p style="font-size:12px;color:#888888">'
                f'<a href="{unsubscribe_url}">Unsubscribe</a></p>'
            )
        footer += (
            f'<img src="{open_url}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px">'
        )
        body = _before_body_end(body, footer)

        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())
        sender_name, sender = header_address(step.from_ or self.sender)
        message["From"] = sender.header(sender_name)
        name = " ".join(n for n in (contact.first_name, contact.last_name) if n)
        message["To"] = smtp_address(contact.email).header(name)
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id_for(context.key, self.domain)
        # Provider events (bounces, complaints, replies) can be traced back with these.
        message["X-Goalflow-Enrollment"] = context.enrollment_id
        message["X-Goalflow-Automation"] = context.automation_id
        message["X-Goalflow-Step"] = context.step_id
        message["X-Goalflow-Contact"] = contact.id
        # What email providers pass back in their webhooks (docs/integrations.md): the same
        # signed token in each one's own metadata header, so that events without the Message-ID
        # (opens and clicks) are attributed too.
        token = tracker.sign("attribution", self._target(context))
        message["X-SMTPAPI"] = json.dumps({"unique_args": {ATTRIBUTION_KEY: token}}, **COMPACT)
        message["X-Mailgun-Variables"] = json.dumps({ATTRIBUTION_KEY: token}, **COMPACT)
        message[f"X-PM-Metadata-{ATTRIBUTION_KEY}"] = token
        # RFC 2369 / RFC 8058 one-click unsubscribe, shown by most mail clients.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if step.text is not None:
            text = _render(step.text, variables, trigger_link, autoescape=False)
            text = rewrite_text_links(text, track)
            if unsubscribe_url not in text:
                text += f"\n\nUnsubscribe: {unsubscribe_url}\n"
            message.set_content(text)
            message.add_alternative(body, subtype="html")
        else:
            message.set_content(body, subtype="html")
        return message


def _render(
    source: str,
    variables: dict[str, Any],
    trigger_link: Callable[[str], str],
    *,
    autoescape: bool,
) -> str:
    try:
        return render(source, variables, trigger_link=trigger_link, autoescape=autoescape)
    except Exception as err:
        # The sandbox refused something (SecurityError) or the template failed at run time
        # ({{ 1/0 }}): the same on every attempt, so not retried.
        raise ApplicationError(
            f"template failed: {type(err).__name__}: {err}",
            type=TEMPLATE_FAILED,
            non_retryable=True,
        ) from err


def _refused(code: int, text: str) -> ApplicationError:
    if code >= 500:
        return ApplicationError(
            f"SMTP server refused the message: {code} {text}",
            type=SMTP_REJECTED,
            non_retryable=True,
        )
    return ApplicationError(f"SMTP server deferred the message: {code} {text}")  # retried


class EmailActivities:
    """`budget`, when given, asks the contact for a slot before a send (R20)."""

    def __init__(
        self, smtp: SmtpConfig, tracker: Tracker, sender: str, budget: MessageBudget | None = None
    ) -> None:
        self.smtp = smtp
        self.budget = budget
        self.composer = EmailComposer(tracker, sender)
        # The name sent in EHLO, looked up once: aiosmtplib would call socket.getfqdn() in a
        # thread for every message.
        self.local_hostname: str | None = None

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, request: EmailRequest) -> DeliveryResult:
        context = request.context
        message_id = message_id_for(context.key, self.composer.domain)
        if not context.contact.email:
            return DeliveryResult(message_id=message_id, skipped="no_email")
        if context.contact.unsubscribed:
            return DeliveryResult(message_id=message_id, skipped="unsubscribed")
        try:
            # Rendering runs in a thread, within one budget for the step's templates: the
            # event loop (shared with the API under `goalflow dev`) keeps serving meanwhile.
            message = await asyncio.to_thread(within_budget, self.composer.compose, request)
            sender = header_address(request.step.from_ or self.composer.sender)[1]
            recipient = smtp_address(context.contact.email)
        except ApplicationError:
            raise
        except Exception as err:  # a header the email package refuses, e.g. a bad address
            raise ApplicationError(
                f"cannot build the message: {err}", type=INVALID_MESSAGE, non_retryable=True
            ) from err
        if self.budget is not None and (held := await self.budget.ask(context, "email")):
            return held
        await self._send(message, sender, recipient)
        if self.budget is not None:
            await self.budget.sent(context, "email")
        return DeliveryResult(message_id=message_id)

    async def _send(
        self, message: EmailMessage, sender: SmtpAddress, recipient: SmtpAddress
    ) -> None:
        smtp = self.smtp
        if self.local_hostname is None:
            self.local_hostname = await asyncio.to_thread(socket.getfqdn)
        try:
            await aiosmtplib.send(
                message,
                sender=sender.envelope,
                recipients=[recipient.envelope],
                hostname=smtp.hostname,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                use_tls=smtp.use_tls,
                start_tls=smtp.start_tls,
                validate_certs=smtp.validate_certs,
                timeout=smtp.timeout,
                local_hostname=self.local_hostname,
            )
        except aiosmtplib.SMTPNotSupported as err:
            # The same on every attempt: a non-ASCII local part needs SMTPUTF8.
            needs = recipient if recipient.needs_smtputf8 else sender
            raise ApplicationError(
                f"SMTP server {smtp.hostname}:{smtp.port} does not offer SMTPUTF8, which "
                f"{needs.envelope!r} needs (its part before '@' is not ASCII): {err}",
                type=SMTP_REJECTED,
                non_retryable=True,
            ) from err
        except aiosmtplib.SMTPRecipientsRefused as err:
            worst = max(err.recipients, key=lambda r: r.code)
            raise _refused(worst.code, worst.message) from err
        except aiosmtplib.SMTPResponseException as err:
            raise _refused(err.code, err.message) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            # Connection refused, dropped or timed out: the server may be back on the next try.
            raise ApplicationError(
                f"SMTP {smtp.hostname}:{smtp.port} unreachable: {err!r}"
            ) from err
