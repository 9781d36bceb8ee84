"""What a contact remembers of its recent events, for goal criteria with a `lookback` (R15 in
docs/automations.md). Pure functions over one model that the contact workflow carries across
continue-as-new."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field, model_validator

from workflows.definition import Automation, GoalStep
from workflows.durations import parse_duration
from workflows.events import ContactEvent

# At least the last 1,000 events or 30 days, whichever is less, and never more than this many
# bytes of JSON (UTF-8): the contact's continue-as-new input also carries its profile (256 KiB),
# 10,000 event ids for deduplication (under 250 KB) and up to 512 KiB of backlog, inside
# Temporal's 2 MB limit (the worst case is computed in tests/test_limits.py).
MEMORY_EVENTS = 1_000
MEMORY_AGE = timedelta(days=30)
MEMORY_BYTES = 512 * 1024


class EventMemory(BaseModel):
    """The contact's recent events, oldest first, and the bytes of JSON they take."""

    events: list[ContactEvent] = Field(default_factory=list)
    size: int = 0

    @model_validator(mode="after")
    def _measured(self) -> EventMemory:
        """Measured again when a run takes it over: runs before counted characters, and a
        character can take up to four bytes."""
        self.size = sum(_size(event) for event in self.events)
        return self


def _size(event: ContactEvent) -> int:
    return len(event.__pydantic_serializer__.to_json(event))


def remember(memory: EventMemory, event: ContactEvent, now: datetime) -> None:
    """Keep `event` (its trigger matches stripped); forget what falls outside the bounds."""
    if event.triggers:
        event = event.model_copy(update={"triggers": []})
    memory.events.append(event)
    memory.size += _size(event)
    forget(memory, now)


def forget(memory: EventMemory, now: datetime) -> None:
    """Drop the oldest events past 1,000, older than 30 days, or over the byte budget."""
    events = memory.events
    while events and (
        len(events) > MEMORY_EVENTS
        or memory.size > MEMORY_BYTES
        or (events[0].accepted_at is not None and now - events[0].accepted_at > MEMORY_AGE)
    ):
        memory.size -= _size(events.pop(0))


def longest_lookback(automation: Automation) -> timedelta | None:
    """The longest `lookback` of the automation's goal criteria; None when none has one."""
    found = [
        parse_duration(criterion.lookback)
        for step in automation.steps
        if isinstance(step, GoalStep)
        for criterion in step.criteria
        if criterion.lookback is not None
    ]
    return max(found, default=None)


def recall(memory: EventMemory, automation: Automation, now: datetime) -> list[ContactEvent]:
    """The remembered events an enrollment of `automation` accepted at `now` may look back on,
    oldest first: none unless a criterion has a `lookback`."""
    longest = longest_lookback(automation)
    if longest is None:
        return []
    return [
        event
        for event in memory.events
        if event.accepted_at is not None and now - event.accepted_at <= longest
    ]
