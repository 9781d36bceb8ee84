from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from api.attribution import remember_profile
from api.deps import KnownContactId, ServiceDep, SettingsDep
from api.schemas import ContactId, ContactOut, ContactProfileIn, ContactSaved, TagsIn, TagsOut
from workflows.messages import ProfileSave

router = APIRouter(tags=["contacts"])


@router.get(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    responses={404: {"description": "a contact goalflow never saw"}},
)
async def get_contact(contact_id: KnownContactId, goalflow: ServiceDep) -> ContactOut:
    """Tags, custom fields and active enrollments."""
    view = await goalflow.contact(contact_id)
    return ContactOut(
        contact_id=view.contact_id,
        email=view.email,
        phone=view.phone,
        first_name=view.first_name,
        last_name=view.last_name,
        tags=view.tags,
        fields=view.fields,
        unsubscribed=view.unsubscribed,
        sms_unsubscribed=view.sms_unsubscribed,
        active_enrollments=[a.model_dump() for a in view.active_enrollments],
    )


@router.post(
    "/contacts/{contact_id}/tags", status_code=status.HTTP_202_ACCEPTED, response_model=TagsOut
)
async def change_tags(contact_id: ContactId, body: TagsIn, goalflow: ServiceDep) -> TagsOut:
    """Add/remove tags; each real change becomes a `contact.tag_added`/`contact.tag_removed`
    event for the contact's enrollments."""
    result = await goalflow.change_tags(contact_id, body.add, body.remove, body.id)
    return TagsOut(**result.model_dump())


@router.put(
    "/contacts/{contact_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactSaved,
    responses={200: {"model": ContactSaved, "description": "an existing profile, updated"}},
)
async def save_contact(
    contact_id: ContactId,
    body: ContactProfileIn,
    response: Response,
    goalflow: ServiceDep,
    settings: SettingsDep,
) -> ContactSaved:
    """Save the contact's profile. The first save of a contact answers 201 and makes the event
    `contact.created`; a later one answers 200 and, when something changed, makes
    `contact.updated` with `data.changed` (the names of the fields that changed). Tag changes
    are tag events. Each can trigger automations (R14)."""
    profile = body.model_dump(exclude={"locale"})
    if body.locale is not None:
        # Kept as the custom field `locale`, as `timezone` is (docs/api.md).
        profile["fields"] = {**(body.fields or {}), "locale": body.locale}
    save = ProfileSave(id=f"p-{uuid.uuid4().hex}", **profile)
    result = await goalflow.save_profile(contact_id, save)
    # Every save, not only one that changed them: a save retried after a failure here records.
    await remember_profile(goalflow, settings.secret, contact_id, body.email, body.phone)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return ContactSaved(**result.model_dump())
