from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from api.deps import ServiceDep
from api.schemas import TriggerLinkIn
from workflows.messages import TriggerLink

router = APIRouter(tags=["trigger links"])


@router.put("/trigger-links/{link_id}", response_model=TriggerLink)
async def put_trigger_link(
    body: TriggerLinkIn,
    goalflow: ServiceDep,
    link_id: str = Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
) -> TriggerLink:
    """Create or replace a trigger link: `trigger_link('id')` in templates renders a tracked
    URL that redirects here and emits `trigger_link.clicked`."""
    return await goalflow.put_trigger_link(TriggerLink(link_id=link_id, **body.model_dump()))


@router.get("/trigger-links")
async def list_trigger_links(goalflow: ServiceDep) -> dict[str, Any]:
    catalog = await goalflow.catalog()
    return {"trigger_links": [link.model_dump() for link in catalog.trigger_links]}
