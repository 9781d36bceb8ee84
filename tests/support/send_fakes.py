"""Fakes of the send activities for workflow tests."""

from __future__ import annotations

from temporalio import activity

from workflows.messages import SEND_EMAIL, SEND_SMS, DeliveryResult, EmailRequest, SmsRequest


class Outbox:
    """Fakes of the send activities, under their real names: they keep what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @activity.defn(name=SEND_SMS)
    async def send_sms(self, request: SmsRequest) -> DeliveryResult:
        self.sent.append(request.context.step_id)
        return DeliveryResult(message_id=request.context.key)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, request: EmailRequest) -> DeliveryResult:
        self.sent.append(request.context.step_id)
        return DeliveryResult(message_id=request.context.key)
