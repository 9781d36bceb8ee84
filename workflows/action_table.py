"""What each action step runs, and how it is retried: plain data and pure functions.

Passed through the sandbox (one copy per process): the action runner (`workflows/actions.py`),
which the sandbox executes afresh for each enrollment, only uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.messages import (
    SEND_EMAIL,
    SEND_SMS,
    SEND_WEBHOOK,
    SMS_REJECTED,
    SMTP_REJECTED,
    WEBHOOK_REJECTED,
    DeliveryResult,
    EmailRequest,
    SmsRequest,
    WebhookRequest,
    WebhookResult,
)

ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=[WEBHOOK_REJECTED, SMTP_REJECTED, SMS_REJECTED],
)
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
# How much of a failed attempt's message `waiting.last_error` shows.
LAST_ERROR_CHARS = 200


@dataclass(frozen=True)
class Action:
    """How an action step runs: its activity, the request model it takes (built from the step
    context and the step), the result it answers, how long one attempt may take, the summary
    label shown in the UI, and what the timeline keeps of the result."""

    activity: str
    request: Callable[..., BaseModel]
    result_type: type
    timeout_seconds: int
    label: str
    detail: Callable[[Any], dict[str, Any]]


def _webhook_detail(hook: WebhookResult) -> dict[str, Any]:
    return {"status_code": hook.status_code, "webhook_id": hook.webhook_id}


def _delivery_detail(sent: DeliveryResult) -> dict[str, Any]:
    if sent.wait is not None and sent.until is not None:
        return {"wait": sent.wait, "until": sent.until.isoformat()}  # R20: not sent yet
    if sent.skipped == "budget":
        return {"skipped": "budget"}
    detail: dict[str, Any] = {"message_id": sent.message_id}
    if sent.skipped:
        detail["skipped"] = sent.skipped
    return detail


ACTIONS: dict[str, Action] = {
    "webhook": Action(SEND_WEBHOOK, WebhookRequest, WebhookResult, 30, "webhook", _webhook_detail),
    "send_email": Action(SEND_EMAIL, EmailRequest, DeliveryResult, 60, "email", _delivery_detail),
    "send_sms": Action(SEND_SMS, SmsRequest, DeliveryResult, 30, "sms", _delivery_detail),
}


def retryable(failure: BaseException | None) -> bool:
    """Whether ACTION_RETRY would try again after this failure."""
    if isinstance(failure, ApplicationError):
        types = ACTION_RETRY.non_retryable_error_types or []
        return not failure.non_retryable and failure.type not in types
    return True


def failed(cause: BaseException | None) -> dict[str, Any]:
    """A permanent failure, shown in the timeline; the enrollment carries on."""
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    return {"result": "failed", "error": message, "error_type": kind}
