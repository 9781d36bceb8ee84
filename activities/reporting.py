"""The reporting webhook: enrollments' outcomes out (docs/integrations.md, "Reporting webhook").

With GOALFLOW_REPORTING_WEBHOOK_URL set, each enrollment posts `enrollment.started`, `goal.met`
(once per goal) and `enrollment.ended` there, `{"type", "timestamp", "data": {enrollment_id,
automation_id, version, contact_id, step_id?, outcome?}}`, signed per Standard Webhooks. The
enrollment starts this activity without waiting for it (a dead receiver holds no contact);
Temporal retries it with backoff, and `webhook-id` is the same on every attempt, so a receiver
that got a post twice can tell. The URL is the operator's, but calls still go through the
outbound guard (goalflow/outbound.py): the same policy for every call the worker makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from goalflow.core.outbound import (
    GuardedTransport,
    OutboundPolicy,
    OutboundRefused,
    Resolver,
    system_resolver,
)
from workflows.messages import REPORT_OUTCOME, OutcomeReport


def _count(result: str) -> None:
    """`goalflow_reporting_webhook_posts{result}` on the worker's metrics port: delivered, or
    failed (an attempt; Temporal retries it)."""
    activity.metric_meter().create_counter(
        "goalflow_reporting_webhook_posts", "posts to the reporting webhook, by result"
    ).add(1, {"result": result})


def report_body(report: OutcomeReport) -> str:
    data = {
        "enrollment_id": report.enrollment_id,
        "automation_id": report.automation_id,
        "version": report.version,
        "contact_id": report.contact_id,
    }
    if report.step_id is not None:
        data["step_id"] = report.step_id
    if report.outcome is not None:
        data["outcome"] = report.outcome
    timestamp = report.timestamp.isoformat().replace("+00:00", "Z")
    body = {"type": report.type, "timestamp": timestamp, "data": data}
    return json.dumps(body, separators=(",", ":"))


class ReportingActivities:
    def __init__(
        self,
        url: str | None,
        secret: str,
        policy: OutboundPolicy,
        *,
        resolver: Resolver = system_resolver,
        connector: Callable[[], httpx.AsyncBaseTransport] | None = None,
        timeout: float = 10,
    ) -> None:
        self.url = url
        self.signer = Webhook(secret)
        self.policy = policy
        self.resolver = resolver
        self.connector = connector
        self.timeout = timeout

    def _client(self) -> httpx.AsyncClient:
        layer = self.connector() if self.connector else httpx.AsyncHTTPTransport(trust_env=False)
        return httpx.AsyncClient(
            transport=GuardedTransport(self.policy, self.resolver, layer),
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
        )

    @activity.defn(name=REPORT_OUTCOME)
    async def report_outcome(self, report: OutcomeReport) -> None:
        if not self.url:
            # The setting was removed after the enrollment started: nothing to post to.
            return
        payload = report_body(report)
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": report.webhook_id,
            # The attempt's time (receivers refuse old ones); the body keeps the event's.
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(report.webhook_id, now, payload),
        }
        try:
            async with self._client() as http:
                response = await http.post(self.url, content=payload, headers=headers)
        except OutboundRefused as err:
            _count("failed")
            raise ApplicationError(
                f"reporting webhook refused: {err}", type="OutboundRefused", non_retryable=True
            ) from err
        except httpx.HTTPError as err:
            _count("failed")
            raise ApplicationError(f"reporting webhook: {type(err).__name__}") from err
        if response.status_code >= 300:
            _count("failed")
            raise ApplicationError(f"reporting webhook answered {response.status_code}")
        _count("delivered")
