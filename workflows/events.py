"""Events as the engine sees them, and the messages the workflows exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.definition import Automation, EventType


class TriggerMatch(BaseModel):
    """A trigger of an automation that an event matched, found by the process that accepted
    the event (R14); the contact workflow enrolls the contact right after accepting it."""

    automation_id: str
    version: int
    trigger_id: str
    # None when the automation is paused: the match is only counted as refused (R17).
    definition: Automation | None = None
    search_attributes: bool = True


class ContactEvent(BaseModel):
    """One event for one contact, as accepted by the contact workflow."""

    id: str
    contact_id: str
    type: EventType
    occurred_at: datetime | None = None
    accepted_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # How many automated causes led to it: 0 from outside, an enrollment's depth + 1 from its
    # actions. Triggers stop firing past `MAX_TRIGGER_DEPTH` (a chain, never a loop).
    depth: int = 0
    # Triggers it matched; stripped before the event is forwarded to enrollments.
    triggers: list[TriggerMatch] = Field(default_factory=list)


MAX_TRIGGER_DEPTH = 10


def trigger_key(event_type: str, data: dict[str, Any]) -> str:
    """Names an event the contact workflow makes itself (a tag change, `contact.created`), so
    that trigger matches found beforehand can be attached to it."""
    tag = data.get("tag")
    return f"{event_type}:{tag}" if isinstance(tag, str) else event_type
