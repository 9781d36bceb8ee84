"""The activities' requests and results: who a side effect is for, and the step it carries out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
