"""The messaging policy (R20 in docs/automations.md): email and SMS caps per contact across
every automation, and quiet hours."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from workflows.budget import MessagingPolicy

router = APIRouter(tags=["policies"])


@router.get("/policies/messaging")
async def get_messaging_policy(goalflow: ServiceDep) -> dict[str, Any]:
    """The policy; `{}` when none was set (no limit)."""
    return (await goalflow.messaging_policy()).model_dump(exclude_none=True)


@router.put("/policies/messaging")
async def put_messaging_policy(body: MessagingPolicy, goalflow: ServiceDep) -> dict[str, Any]:
    """Replace the policy. Sends granted after this answer follow it, in every process (each
    refreshes its copy of the catalog within a second, this one at once)."""
    return (await goalflow.set_messaging_policy(body)).model_dump(exclude_none=True)
