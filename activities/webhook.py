"""The `webhook` step: a real HTTP call, signed per Standard Webhooks.

`webhook-id` is the enrollment + step + visit key (R10), so a receiver can drop the repeat of a
call that was retried after a crash mid-send.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.messages import SEND_WEBHOOK, WEBHOOK_REJECTED, WebhookRequest, WebhookResult
from workflows.templates import render, render_json

# Client errors that a retry can fix: timeouts and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})


class WebhookActivities:
    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self.http = http
        self.signer = Webhook(secret)

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, request: WebhookRequest) -> WebhookResult:
        step, context = request.step, request.context
        variables = {
            **context.template_context(),
            "enrollment_id": context.enrollment_id,
            "automation_id": context.automation_id,
            "step_id": context.step_id,
        }
        body = render_json(step.body, variables) if step.body is not None else None
        payload = "" if body is None else json.dumps(body, separators=(",", ":"))
        webhook_id = context.key
        timestamp = datetime.now(UTC)
        headers = {render(k, variables): render(v, variables) for k, v in step.headers.items()}
        headers.update(
            {
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": self.signer.sign(webhook_id, timestamp, payload),
            }
        )
        if body is not None:
            headers.setdefault("content-type", "application/json")
        try:
            response = await self.http.request(
                step.method, render(step.url, variables), content=payload or None, headers=headers
            )
        except httpx.HTTPError as err:
            raise ApplicationError(f"webhook {step.url}: {err!r}") from err  # retried
        code = response.status_code
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            raise ApplicationError(
                f"webhook {step.url} answered {code}: {response.text[:200]}",
                type=WEBHOOK_REJECTED,
                non_retryable=True,
            )
        if code >= 400:
            raise ApplicationError(f"webhook {step.url} answered {code}")  # retried
        return WebhookResult(status_code=code, webhook_id=webhook_id)
