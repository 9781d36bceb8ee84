from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.deps import ServiceDep
from api.schemas import (
    EventAccepted,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    Rejected,
    validation_reason,
)
from goalflow.service.events import contact_event, send_by_contact
from workflows.events import ContactEvent

router = APIRouter(tags=["events"])


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventAccepted)
async def post_event(event: EventIn, goalflow: ServiceDep) -> EventAccepted:
    """Accept one event; answered once Temporal holds it durably. A repeated `id` for the
    same contact is applied once and answers `duplicate: true`."""
    receipt = await goalflow.send_event(
        event.contact_id, event.type, event.data, event_id=event.id, occurred_at=event.occurred_at
    )
    return EventAccepted(**receipt.model_dump())


@router.post("/events/batch", status_code=status.HTTP_202_ACCEPTED, response_model=EventBatchOut)
async def post_events(batch: EventBatchIn, goalflow: ServiceDep) -> EventBatchOut:
    """Up to 1,000 events. Invalid ones are listed in `rejected` with their index; events of
    one contact are applied in the order given, contacts in parallel, each contact's events in
    one update (or a few, for large ones). When Temporal fails for some contacts but not all,
    their events are in `rejected` with a reason saying to retry (ids make that safe); when it
    fails for all, the answer is the error (503)."""
    rejected: list[Rejected] = []
    indexes: list[int] = []
    events: list[ContactEvent] = []
    for index, raw in enumerate(batch.events):
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as err:
            rejected.append(Rejected(index=index, reason=validation_reason(err)))
            continue
        indexes.append(index)
        events.append(
            contact_event(
                event.contact_id,
                event.type,
                event.data,
                event_id=event.id,
                occurred_at=event.occurred_at,
            )
        )
    results = await send_by_contact(goalflow.send_events, events)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures and len(failures) == len(results):
        raise failures[0]
    duplicates = accepted = 0
    for index, result in zip(indexes, results, strict=True):
        if isinstance(result, BaseException):
            reason = f"not accepted ({_describe(result)}); retry it, the same id is safe"
            rejected.append(Rejected(index=index, reason=reason))
        elif result.duplicate:
            duplicates += 1
        else:
            accepted += 1
    rejected.sort(key=lambda r: r.index)
    return EventBatchOut(accepted=accepted, duplicates=duplicates, rejected=rejected)


def _describe(err: BaseException) -> str:
    if isinstance(err, RPCError):
        return f"Temporal: {err.message}"
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return "Temporal did not answer in time"
    return type(err).__name__
