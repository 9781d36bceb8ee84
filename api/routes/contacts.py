from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, status

from api.deps import GoalflowDep
from api.schemas import CONTACT_ID_PATTERN, ContactId, ContactOut, TagsIn, TagsOut
from api.service import NotFound

router = APIRouter(tags=["contacts"])


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: str, goalflow: GoalflowDep) -> ContactOut:
    """Tags, custom fields and active enrollments."""
    if not re.fullmatch(CONTACT_ID_PATTERN, contact_id):
        # No contact can have this id: unknown, like any other.
        raise HTTPException(404, detail=f"contact {contact_id!r} not found")
    try:
        view = await goalflow.contact(contact_id)
    except NotFound as err:
        raise HTTPException(404, detail=str(err)) from err
    return ContactOut(
        contact_id=view.contact_id,
        tags=view.tags,
        fields=view.fields,
        unsubscribed=view.unsubscribed,
        active_enrollments=[a.model_dump() for a in view.active_enrollments],
    )


@router.post(
    "/contacts/{contact_id}/tags", status_code=status.HTTP_202_ACCEPTED, response_model=TagsOut
)
async def change_tags(contact_id: ContactId, body: TagsIn, goalflow: GoalflowDep) -> TagsOut:
    """Add/remove tags; each real change becomes a `contact.tag_added`/`contact.tag_removed`
    event for the contact's enrollments."""
    result = await goalflow.change_tags(contact_id, body.add, body.remove, body.id)
    return TagsOut(**result.model_dump())
