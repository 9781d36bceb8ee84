from __future__ import annotations

import asyncio
from collections import defaultdict

from fastapi import APIRouter, status
from pydantic import ValidationError

from api.deps import GoalflowDep
from api.schemas import EventAccepted, EventBatchIn, EventBatchOut, EventIn, Rejected

router = APIRouter(tags=["events"])


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
    one contact are applied in the order given, contacts in parallel."""
    rejected: list[Rejected] = []
    by_contact: dict[str, list[EventIn]] = defaultdict(list)
    for index, raw in enumerate(batch.events):
        try:
            event = EventIn.model_validate(raw)
        except ValidationError as err:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
                for e in err.errors(include_url=False)
            )
            rejected.append(Rejected(index=index, reason=reason))
            continue
        by_contact[event.contact_id].append(event)

    async def send_all(events: list[EventIn]) -> list[bool]:
        results = []
        for e in events:
            receipt = await goalflow.send_event(
                e.contact_id, e.type, e.data, event_id=e.id, occurred_at=e.occurred_at
            )
            results.append(receipt.duplicate)
        return results

    outcomes = await asyncio.gather(*(send_all(events) for events in by_contact.values()))
    flags = [flag for outcome in outcomes for flag in outcome]
    duplicates = sum(flags)
    return EventBatchOut(accepted=len(flags) - duplicates, duplicates=duplicates, rejected=rejected)
