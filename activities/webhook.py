"""The `webhook` step: a real HTTP call, signed per Standard Webhooks.

`webhook-id` is the enrollment + step + visit key (R10), so a receiver can drop the repeat of a
call that was retried after a crash mid-send.

The URL is the automation author's: every call goes through the outbound guard
(goalflow/core/outbound.py), redirects are not followed, and nothing of the receiver's answer
but its status line reaches the timeline (a response body could carry anything, secrets included).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email import TEMPLATE_FAILED
from goalflow.core.outbound import (
    GuardedTransport,
    OutboundPolicy,
    OutboundRefused,
    Resolver,
    system_resolver,
)
from goalflow.core.templates import render, render_json, within_budget
from workflows.definition import WebhookStep
from workflows.messages import (
    OUTBOUND_REFUSED,
    SEND_WEBHOOK,
    WEBHOOK_REJECTED,
    WebhookRequest,
    WebhookResult,
)

# Client errors that a retry can fix: timeouts and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
# RFC 9110: a field name is a token; a value has no line breaks or NUL.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


class _BadRequest(ValueError):
    """A rendered URL or header that no HTTP request can carry."""


def _rendered(step: WebhookStep, variables: dict[str, Any]) -> tuple[str, dict[str, str], str]:
    """The step's URL, headers and JSON payload, rendered (in a worker thread: see below)."""
    body = render_json(step.body, variables) if step.body is not None else None
    payload = "" if body is None else json.dumps(body, separators=(",", ":"))
    headers = {render(k, variables): render(v, variables) for k, v in step.headers.items()}
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise _BadRequest(f"header name {name[:60]!r} is not a valid HTTP field name")
        if _BAD_VALUE.search(value):
            raise _BadRequest(f"header {name!r} has a line break or NUL in its value")
    url = render(step.url, variables)
    try:
        httpx.URL(url)
    except httpx.InvalidURL as err:
        raise _BadRequest(f"the URL is not valid: {err}") from err
    return url, headers, payload


def _status_line(response: httpx.Response) -> str:
    """`404 Not Found`: the status and its reason phrase, printable ASCII, at most 60 characters."""
    reason = _UNPRINTABLE.sub("", response.reason_phrase)[:40]
    return f"{response.status_code} {reason}".strip()


def _where(url: str) -> str:
    """Scheme, host and path of a URL: what a timeline may show (no query, no credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]


class WebhookActivities:
    def __init__(
        self,
        secret: str,
        policy: OutboundPolicy,
        *,
        resolver: Resolver = system_resolver,
        connector: Callable[[], httpx.AsyncBaseTransport] | None = None,
        timeout: float = 30,
    ) -> None:
        self.signer = Webhook(secret)
        self.policy = policy
        self.resolver = resolver
        # What makes the connections once the guard has checked the address (tests: a
        # transport that refuses anything but loopback, a second net under the guard).
        self.connector = connector
        self.timeout = timeout
        # Built once: loading the CA bundle costs far more than a transport (about 100 ms).
        self.tls = httpx.create_ssl_context()

    def _connection_layer(self) -> httpx.AsyncBaseTransport:
        # Its own pool per call: a pooled TLS connection is bound to the name it was opened
        # for (SNI), and two names may share an address.
        if self.connector is not None:
            return self.connector()
        return httpx.AsyncHTTPTransport(verify=self.tls, trust_env=False)

    def _client(self) -> httpx.AsyncClient:
        # A client per call: its transport pins the addresses it checked. No redirects, no proxy
        # from the environment (a proxy would connect to addresses nobody checked).
        return httpx.AsyncClient(
            transport=GuardedTransport(self.policy, self.resolver, self._connection_layer()),
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
        )

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, request: WebhookRequest) -> WebhookResult:
        step, context = request.step, request.context
        variables = {
            **context.template_context(),
            "enrollment_id": context.enrollment_id,
            "automation_id": context.automation_id,
            "step_id": context.step_id,
        }
        try:
            # In a thread, within one budget for the step's templates: the event loop (shared
            # with the API under `goalflow dev`) keeps serving while a template renders.
            url, headers, payload = await asyncio.to_thread(
                within_budget, _rendered, step, variables
            )
        except Exception as err:
            # A template that fails ({{ 1/0 }}, past a limit) or renders a request HTTP cannot
            # carry fails the same way on every attempt: not retried.
            raise ApplicationError(
                f"template failed: {type(err).__name__}: {err}",
                type=TEMPLATE_FAILED,
                non_retryable=True,
            ) from err
        webhook_id = context.key
        timestamp = datetime.now(UTC)
        headers.update(
            {
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": self.signer.sign(webhook_id, timestamp, payload),
            }
        )
        if step.body is not None:
            headers.setdefault("content-type", "application/json")
        where = _where(url)
        try:
            async with self._client() as http:
                response = await http.request(
                    step.method, url, content=payload or None, headers=headers
                )
        except OutboundRefused as err:
            raise ApplicationError(
                f"webhook {where} refused: {err}", type=OUTBOUND_REFUSED, non_retryable=True
            ) from err
        except httpx.HTTPError as err:
            raise ApplicationError(f"webhook {where}: {type(err).__name__}") from err  # retried
        code = response.status_code
        answered = f"webhook {where} answered {_status_line(response)}"
        if 300 <= code < 400:
            raise ApplicationError(
                f"{answered}; redirects are not followed",
                type=WEBHOOK_REJECTED,
                non_retryable=True,
            )
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            raise ApplicationError(answered, type=WEBHOOK_REJECTED, non_retryable=True)
        if code >= 400:
            raise ApplicationError(answered)  # retried
        return WebhookResult(status_code=code, webhook_id=webhook_id)
