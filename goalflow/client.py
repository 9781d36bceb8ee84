"""Send events to goalflow through Temporal, without the HTTP API.

For services that already hold a Temporal client (with `temporalio.contrib.pydantic`'s
`pydantic_data_converter`, as goalflow's own processes use). `send_event` does exactly what
`POST /v1/events` does and `send_events` what `POST /v1/events/batch` does for valid events,
with the same code (`api.service.Goalflow`): the same workflow ids, updates, payloads,
deduplication by event id and trigger matching. The contract, for other SDKs, is in
docs/integrations.md.

    receipt = await send_event(client, {"contact_id": "ada", "type": "custom",
                                        "data": {"name": "paid"}, "id": "invoice-42"})
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client

from api.schemas import EventIn
from api.service import Goalflow, contact_event
from workflows.messages import EventReceipt

__all__ = ["DEFAULT_TASK_QUEUE", "EventReceipt", "send_event", "send_events"]

DEFAULT_TASK_QUEUE = "goalflow"
# Contacts whose updates `send_events` keeps in flight at once.
CONTACTS_IN_FLIGHT = 64

# One Goalflow per client and task queue: it keeps the trigger set it matches events against.
_engines: weakref.WeakKeyDictionary[Client, dict[str, Goalflow]] = weakref.WeakKeyDictionary()

Event = EventIn | Mapping[str, Any]


def _goalflow(client: Client, task_queue: str) -> Goalflow:
    per_queue = _engines.setdefault(client, {})
    if task_queue not in per_queue:
        per_queue[task_queue] = Goalflow(client, task_queue)
    return per_queue[task_queue]


def _valid(event: Event) -> EventIn:
    """The event as `POST /v1/events` validates it; pydantic's ValidationError (a ValueError)
    says what is wrong."""
    return event if isinstance(event, EventIn) else EventIn.model_validate(event)


async def send_event(
    client: Client, event: Event, *, task_queue: str = DEFAULT_TASK_QUEUE
) -> EventReceipt:
    """Accept one event: `{"id"?, "contact_id", "type", "occurred_at"?, "data"}`. Returns once
    Temporal holds it durably; a repeated `id` for the same contact answers `duplicate=True`
    and is applied once."""
    valid = _valid(event)
    return await _goalflow(client, task_queue).send_event(
        valid.contact_id, valid.type, valid.data, event_id=valid.id, occurred_at=valid.occurred_at
    )


async def send_events(
    client: Client, events: Sequence[Event], *, task_queue: str = DEFAULT_TASK_QUEUE
) -> list[EventReceipt]:
    """Accept several events: each contact's in the order given, in one update (or a few, for
    large ones), contacts in parallel. Every event is validated before any is sent. The
    receipts are in the order of `events`. An error is raised as is: some contacts' events may
    have been accepted, and a retry with the same ids applies each event once."""
    valid = [_valid(e) for e in events]
    goalflow = _goalflow(client, task_queue)
    by_contact: dict[str, list[int]] = {}
    for index, event in enumerate(valid):
        by_contact.setdefault(event.contact_id, []).append(index)
    in_flight = asyncio.Semaphore(CONTACTS_IN_FLIGHT)

    async def send(contact_id: str, indexes: list[int]) -> list[EventReceipt]:
        batch = [
            contact_event(
                contact_id,
                valid[i].type,
                valid[i].data,
                event_id=valid[i].id,
                occurred_at=valid[i].occurred_at,
            )
            for i in indexes
        ]
        async with in_flight:
            return await goalflow.send_events(contact_id, batch)

    answers = await asyncio.gather(*(send(c, indexes) for c, indexes in by_contact.items()))
    receipts: list[EventReceipt | None] = [None] * len(valid)
    for indexes, answer in zip(by_contact.values(), answers, strict=True):
        for index, receipt in zip(indexes, answer, strict=True):
            receipts[index] = receipt
    return [r for r in receipts if r is not None]
