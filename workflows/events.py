"""Events as the engine sees them, and the messages the workflows exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.definition import EventType


class ContactEvent(BaseModel):
    """One event for one contact, as accepted by the contact workflow."""

    id: str
    contact_id: str
    type: EventType
    occurred_at: datetime | None = None
    accepted_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
