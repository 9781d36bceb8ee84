"""Why a contact was or was not enrolled, and how close it came to its goals (docs/api.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import explain as explaining
from api.deps import KnownContactId, ServiceDep
from api.explain import Explained
from api.schemas import AutomationId

router = APIRouter(tags=["contacts"])


@router.get(
    "/contacts/{contact_id}/explain",
    response_model=Explained,
    responses={404: {"description": "unknown contact"}},
)
async def explain_contact(
    goalflow: ServiceDep,
    contact_id: KnownContactId,
    automation_id: Annotated[AutomationId, Query(description="the automation to explain")],
) -> Explained:
    """Each kept event a trigger of the automation listens to (enrolled, refused and why, or
    not matched and the first filter that failed), and each goal of the contact's enrollments
    with the events that came close."""
    return await explaining.explain(goalflow, contact_id, automation_id)
