"""Development only (`GOALFLOW_DEV`): the outbox of the embedded SMTP sink and the outbox SMS
provider. Not mounted in production, where these paths answer 404."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import SettingsDep
from goalflow.core.smtp_sink import outbox_messages

router = APIRouter(tags=["dev"])


class OutboxMessage(BaseModel):
    message_id: str
    channel: Literal["email", "sms"]
    to: str
    subject: str | None
    html: str | None
    text: str | None
    links: list[str]
    sent_at: str
    enrollment_id: str | None
    automation_id: str | None = None
    step_id: str | None
    contact_id: str | None = None
    deliveries: int = 1


class Outbox(BaseModel):
    messages: list[OutboxMessage]


@router.get("/dev/outbox", response_model=Outbox)
def outbox(
    settings: SettingsDep,
    contact_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Outbox:
    """Every message sent so far, oldest first; `links` are the tracked URLs in order. A message
    delivered again under the same Message-ID (a send repeated after a crash) is listed once,
    `deliveries` counting its arrivals."""
    messages = [OutboxMessage.model_validate(m) for m in outbox_messages(settings.outbox_dir)]
    if contact_id is not None:
        messages = [m for m in messages if m.contact_id == contact_id]
    return Outbox(messages=messages)
