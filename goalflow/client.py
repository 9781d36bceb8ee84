"""Send events to goalflow through Temporal, without the HTTP API.

For services that already hold a Temporal client (with `temporalio.contrib.pydantic`'s
`pydantic_data_converter`, as goalflow's own processes use). `send_event` does exactly what
`POST /v1/events` does and `send_events` what `POST /v1/events/batch` does for valid events,
with the same code (the service layer, `goalflow.service`): the same workflow ids, updates,
payloads, deduplication by event id and trigger matching. It imports no web framework. The
contract, for other SDKs, is in docs/integrations.md.

    receipt = await send_event(client, {"contact_id": "ada", "type": "custom",
                                        "data": {"name": "paid"}, "id": "invoice-42"})
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client

from goalflow.service.contacts import GoalflowService
from goalflow.service.events import contact_event, receipts_or_raise, send_by_contact
from goalflow.service.inputs import EventIn
from workflows.messages import DEFAULT_TASK_QUEUE, EventReceipt

__all__ = ["DEFAULT_TASK_QUEUE", "EventReceipt", "send_event", "send_events"]

# One service per client and task queue: it keeps the trigger set it matches events against.
_services: weakref.WeakKeyDictionary[Client, dict[str, GoalflowService]] = (
    weakref.WeakKeyDictionary()
)

Event = EventIn | Mapping[str, Any]


def _service(client: Client, task_queue: str) -> GoalflowService:
    per_queue = _services.setdefault(client, {})
    if task_queue not in per_queue:
        per_queue[task_queue] = GoalflowService(client, task_queue)
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
    return await _service(client, task_queue).send_event(
        valid.contact_id, valid.type, valid.data, event_id=valid.id, occurred_at=valid.occurred_at
    )


async def send_events(
    client: Client, events: Sequence[Event], *, task_queue: str = DEFAULT_TASK_QUEUE
) -> list[EventReceipt]:
    """Accept several events: each contact's in the order given, in one update (or a few, for
    large ones), contacts in parallel. Every event is validated before any is sent. The
    receipts are in the order of `events`. An error is raised as is: some contacts' events may
    have been accepted, and a retry with the same ids applies each event once."""
    batch = [
        contact_event(e.contact_id, e.type, e.data, event_id=e.id, occurred_at=e.occurred_at)
        for e in map(_valid, events)
    ]
    results = await send_by_contact(_service(client, task_queue).send_events, batch)
    return receipts_or_raise(results)
