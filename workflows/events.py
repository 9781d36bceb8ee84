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
    # Empty in a candidate (an automation with a trigger on the event's type, for events the
    # contact workflow makes itself): the workflow matches the definition's triggers then.
    trigger_id: str
    definition: Automation
    # A paused automation's match is only counted as refused (R17).
    paused: bool = False
    search_attributes: bool = True
    # The enrollment reports its outcomes (EnrollRequest.report_outcomes).
    report_outcomes: bool = False


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
