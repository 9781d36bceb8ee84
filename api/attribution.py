"""Naming the contact of provider events that carry no token: a text by its sender's number, a
booking by its invitee's email address (docs/integrations.md, "Attribution").

In order of priority: the signed token the event carries (the provider module reads it), then
for a text the contact goalflow last texted at that number (`goalflow.core.sms_recipients`),
then the contact whose profile holds the number or address (`goalflow.core.profiles`). A
profile entry is taken only if the contact's profile still holds that address or number (it may
have been changed since). An event that names no contact is `Ignored` with the reason.
"""

from __future__ import annotations

from api.providers import HookEvent, Ignored
from goalflow.core.profiles import Kind, ProfileDirectory, same_address
from goalflow.core.sms_recipients import PhoneDirectory
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import NotFound


async def attribute(
    goalflow: GoalflowService, secret: str, events: list[HookEvent]
) -> list[Ignored]:
    """Set `contact_id` on the events that name a contact by number or address; those that
    still name none, with why."""
    phones = PhoneDirectory(goalflow.client, goalflow.task_queue, secret)
    profiles = ProfileDirectory(goalflow.client, goalflow.task_queue, secret)
    ignored: list[Ignored] = []
    for event in events:
        if event.contact_id is not None:
            continue
        if event.phone:
            event.contact_id = await phones.contact_for(event.phone)
            if event.contact_id is None and event.type == "sms.received":
                event.contact_id = await _profile_contact(goalflow, profiles, "phone", event.phone)
            if event.contact_id is None:
                ignored.append(Ignored(event.index, _no_phone(event)))
        elif event.email:
            event.contact_id = await _profile_contact(goalflow, profiles, "email", event.email)
            if event.contact_id is None:
                ignored.append(
                    Ignored(
                        event.index,
                        "names no contact: no booking link token, and no contact's profile "
                        "has the invitee's email address",
                    )
                )
        else:
            ignored.append(Ignored(event.index, "names no contact"))
    return ignored


async def set_tags(goalflow: GoalflowService, events: list[HookEvent]) -> tuple[int, int]:
    """(accepted, duplicates) of events that give a contact's whole tag set (HighLevel's
    ContactTagUpdate): the tags it lacks are added, those it no longer has removed, as one
    change named by the provider's event id (a redelivery changes nothing twice)."""
    accepted = duplicates = 0
    for event in events:
        assert event.contact_id is not None and event.tags is not None
        try:
            held = (await goalflow.contact(event.contact_id)).tags
        except NotFound:
            held = []
        given = {t.lower(): t for t in event.tags}
        have = {t.lower(): t for t in held}
        add = [t for key, t in given.items() if key not in have]
        remove = [t for key, t in have.items() if key not in given]
        result = await goalflow.change_tags(event.contact_id, add, remove, event.event_id)
        if result.duplicate:
            duplicates += 1
        else:
            accepted += 1
    return accepted, duplicates


async def remember_profile(
    goalflow: GoalflowService, secret: str, contact_id: str, email: str | None, phone: str | None
) -> None:
    """After a profile is saved with an address or number (`PUT /v1/contacts/{id}`, an
    enrollment with a contact profile): record it in the profiles' directory."""
    if email or phone:
        directory = ProfileDirectory(goalflow.client, goalflow.task_queue, secret)
        await directory.remember(contact_id, email=email, phone=phone)


def _no_phone(event: HookEvent) -> str:
    if event.type == "sms.received":
        return (
            "names no contact: goalflow never texted the number it came from, and no contact's "
            "profile has it"
        )
    return "names no contact: goalflow never texted that number"


async def _profile_contact(
    goalflow: GoalflowService, profiles: ProfileDirectory, kind: Kind, value: str
) -> str | None:
    contact_id = await profiles.contact_for(kind, value)
    if contact_id is None:
        return None
    try:
        view = await goalflow.contact(contact_id)
    except NotFound:
        return None
    held = view.email if kind == "email" else view.phone
    return contact_id if same_address(kind, held, value) else None
