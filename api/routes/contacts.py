from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import GoalflowDep, KnownContactId
from api.schemas import ContactId, ContactOut, TagsIn, TagsOut

router = APIRouter(tags=["contacts"])


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: KnownContactId, goalflow: GoalflowDep) -> ContactOut:
    """Tags, custom fields and active enrollments."""
    view = await goalflow.contact(contact_id)
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
