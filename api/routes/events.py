from __future__ import annotations

import asyncio
from collections import defaultdict

from fastapi import APIRouter, status
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.deps import GoalflowDep
from api.schemas import (
    EventAccepted,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    Rejected,
    validation_reason,
)
from api.service import contact_event
from workflows.events import ContactEvent

router = APIRouter(tags=["events"])

# Contacts of one batch whose updates are in flight at once.
CONTACTS_IN_FLIGHT = 64


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventAccepted)
async def post_event(event: EventIn, goalflow: GoalflowDep) -> EventAccepted:
    """Accept one event; answered once Temporal holds it durably. A repeated `id` for the
    same contact is applied once and answers `duplicate: true`."""
    receipt = await goalflow.send_event(
        event.contact_id, event.type, event.data, event_id=event.id, occurred_at=event.occurred_at
    )
    return EventAccepted(**receipt.model_dump())


@router.post("/events/batch", status_code=status.HTTP_202_ACCEPTED, response_model=EventBatchOut)
async def post_events(batch: EventBatchIn, goalflow: GoalflowDep) -> EventBatchOut:
    """Up to 1,000 events. Invalid ones are listed in `rejected` with their index; events of
    one contact are applied in the order given, contacts in parallel, each contact's events in
    one update (or a few, for large ones). When Temporal fails for some contacts but not all,
    their events are in `rejected` with a reason saying to retry (ids make that safe); when it
    fails for all, the answer is the error (503)."""
    rejected: list[Rejected] = []
    by_contact: dict[str, list[tuple[int, ContactEvent]]] = defaultdict(list)
    for index, raw in enumerate(batch.events):
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as err:
            rejected.append(Rejected(index=index, reason=validation_reason(err)))
            continue
        by_contact[event.contact_id].append(
            (
                index,
                contact_event(
                    event.contact_id,
                    event.type,
                    event.data,
                    event_id=event.id,
                    occurred_at=event.occurred_at,
                ),
            )
        )

    in_flight = asyncio.Semaphore(CONTACTS_IN_FLIGHT)

    async def send(contact_id: str, events: list[tuple[int, ContactEvent]]) -> list[bool]:
        async with in_flight:
            receipts = await goalflow.send_events(contact_id, [e for _, e in events])
        return [r.duplicate for r in receipts]

    groups = list(by_contact.items())
    outcomes = await asyncio.gather(
        *(send(contact_id, events) for contact_id, events in groups), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures and len(failures) == len(outcomes):
        raise failures[0]
    flags: list[bool] = []
    for (_, events), outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            reason = f"not accepted ({_describe(outcome)}); retry it, the same id is safe"
            rejected += [Rejected(index=index, reason=reason) for index, _ in events]
        else:
            flags += outcome
    rejected.sort(key=lambda r: r.index)
    duplicates = sum(flags)
    return EventBatchOut(accepted=len(flags) - duplicates, duplicates=duplicates, rejected=rejected)


def _describe(err: BaseException) -> str:
    if isinstance(err, RPCError):
        return f"Temporal: {err.message}"
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "Temporal did not answer in time"
    return type(err).__name__
