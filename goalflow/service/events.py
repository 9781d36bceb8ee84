"""Events on their way to contact workflows: built as the contact workflow takes them, cut into
updates that fit Temporal's payload limit, grouped by contact and sent.

`POST /v1/events/batch`, the provider hooks and `goalflow.client.send_events` all send through
`send_by_contact`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from workflows.events import ContactEvent
from workflows.messages import EventReceipt

T = TypeVar("T")

# The events of one contact go to its workflow in updates of at most this many bytes of JSON
# (Temporal refuses payloads over 2 MB; one event's data is capped at 1 MiB, so an event that
# large travels alone).
EVENT_BATCH_BYTES = 512 * 1024
# Contacts whose updates are in flight at once, by default.
CONTACTS_IN_FLIGHT = 64


def contact_event(
    contact_id: str,
    type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> ContactEvent:
    """The event as the contact workflow takes it; an event without an id gets a fresh one."""
    return ContactEvent.model_validate(
        {
            "id": event_id or uuid.uuid4().hex,
            "contact_id": contact_id,
            "type": type,
            "occurred_at": occurred_at,
            "data": data,
        }
    )


def chunked(
    sized: Iterable[tuple[T, int]], max_bytes: int, max_items: int | None = None
) -> list[list[T]]:
    """Items (each with its size in bytes) in order, cut into lists of at most `max_bytes` (an
    item larger than that goes alone) and at most `max_items` items."""
    chunks: list[list[T]] = []
    size = 0
    for item, item_bytes in sized:
        current = chunks[-1] if chunks else None
        if (
            current is None
            or size + item_bytes > max_bytes
            or (max_items is not None and len(current) >= max_items)
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_bytes
    return chunks


def event_chunks(
    events: list[ContactEvent], max_bytes: int = EVENT_BATCH_BYTES
) -> list[list[ContactEvent]]:
    return chunked(((e, len(e.model_dump_json())) for e in events), max_bytes)


SendOneContact = Callable[[str, list[ContactEvent]], Awaitable[list[EventReceipt]]]


async def send_by_contact(
    send: SendOneContact,
    events: Sequence[ContactEvent],
    *,
    in_flight: int = CONTACTS_IN_FLIGHT,
) -> list[EventReceipt | BaseException]:
    """Each contact's events, in the order given, through `send` (one contact's list at a
    time), contacts in parallel with at most `in_flight` at once. Per event, in the order of
    `events`: its receipt, or the error that stopped its contact's updates (earlier updates of
    that contact may have been accepted: a retry with the same ids applies each event once)."""
    by_contact: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_contact.setdefault(event.contact_id, []).append(index)
    slots = asyncio.Semaphore(in_flight)

    async def one(contact_id: str, indexes: list[int]) -> list[EventReceipt]:
        async with slots:
            return await send(contact_id, [events[i] for i in indexes])

    answers = await asyncio.gather(
        *(one(contact_id, indexes) for contact_id, indexes in by_contact.items()),
        return_exceptions=True,
    )
    results: dict[int, EventReceipt | BaseException] = {}
    for indexes, answer in zip(by_contact.values(), answers, strict=True):
        for position, index in enumerate(indexes):
            results[index] = answer if isinstance(answer, BaseException) else answer[position]
    return [results[index] for index in range(len(events))]


def receipts_or_raise(results: list[EventReceipt | BaseException]) -> list[EventReceipt]:
    """The receipts of `send_by_contact`, or its first error when any contact failed."""
    receipts: list[EventReceipt] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        receipts.append(result)
    return receipts
