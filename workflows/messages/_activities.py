"""The activities' requests and results: who a side effect is for, and the step it carries out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.budget import BudgetWait, SendingRules
from workflows.definition import SendEmailStep, SendSmsStep, WebhookStep
from workflows.messages._profile import ContactSnapshot


class StepContext(BaseModel):
    """Who a side effect is for; `key` is stable across retries (R10)."""

    enrollment_id: str
    automation_id: str
    step_id: str
    visit: int
    contact: ContactSnapshot
    enrollment_context: dict[str, Any] = Field(default_factory=dict)
    # How the message budget treats an email or text of this automation (R20); absent in the
    # sends of enrollments started before it: a normal send, deferred, in UTC.
    sending: SendingRules | None = None

    @property
    def key(self) -> str:
        return f"{self.enrollment_id}:{self.step_id}:{self.visit}"

    def template_context(self) -> dict[str, Any]:
        """What a step's templates see: `contact.*`, `enrollment.id`, `enrollment.context`."""
        return {
            **self.contact.template_context(),
            "enrollment": {"id": self.enrollment_id, "context": self.enrollment_context},
        }


class WebhookRequest(BaseModel):
    context: StepContext
    step: WebhookStep


class WebhookResult(BaseModel):
    status_code: int
    webhook_id: str


class EmailRequest(BaseModel):
    context: StepContext
    step: SendEmailStep


class SmsRequest(BaseModel):
    context: StepContext
    step: SendSmsStep


class DeliveryResult(BaseModel):
    message_id: str
    skipped: str | None = None
    # Not sent: the message budget says to ask again at `until` (R20).
    wait: BudgetWait | None = None
    until: datetime | None = None
