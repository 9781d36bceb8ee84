"""HighLevel webhooks over HTTP against a real stack: payloads shaped as HighLevel documents them,
signed with an RSA key generated here (its public half is GOALFLOW_HIGHLEVEL_PUBLIC_KEY).

https://marketplace.gohighlevel.com/docs/webhook/WebhookIntegrationGuide (x-wh-signature, the
body's timestamp and webhookId), https://marketplace.gohighlevel.com/docs/webhook/ContactTagUpdate,
https://marketplace.gohighlevel.com/docs/webhook/AppointmentCreate,
https://marketplace.gohighlevel.com/docs/webhook/InboundMessage (the payloads).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, publish, until
from tests.support.provider_signing import (
    dumps,
    goal_met,
    highlevel_headers,
    hook_stack,
    listening,
    met_event,
    sentinel_then_goals,
)
from tests.support.stack import Stack

__all__ = ["hook_stack"]

LOCATION = "ve9EPM428h8vShlRW1KT"


def delivery(kind: str, at: datetime | None = None, **payload: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "locationId": LOCATION,
        "timestamp": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "webhookId": str(uuid.uuid4()),
        **payload,
    }


def tag_update(contact: str, tags: list[str]) -> dict[str, Any]:
    return delivery(
        "ContactTagUpdate",
        id=contact,
        address1="3535 1st St N",
        city="ruDolomitebhamrtoli",
        state="AL",
        companyName="Loram ipsum",
        country="DE",
        source="xyz form",
        dateAdded="2021-11-26T12:41:02.193Z",
        dateOfBirth="2000-01-05T00:00:00.000Z",
        dnd=True,
        email="JohnDeo@gmail.comm",
        name="John Deo",
        firstName="John",
        lastName="Deo",
        phone="+919509597501",
        postalCode="452001",
        tags=tags,
        website="https://www.google.com/",
        attachments=[],
        assignedTo="nmFmQEsNgz6AVpgLVUJ0",
    )


def appointment(contact: str, status: str, calendar: str = "BqTwX8QFwXzpegMve9EQ") -> Any:
    return delivery(
        "AppointmentCreate",
        appointment={
            "id": "0TkCdp9PfvLeWKYRRvIz",
            "address": "https://meet.google.com/yqp-gogr-wve",
            "title": "Appointment with GHL Dev team",
            "calendarId": calendar,
            "contactId": contact,
            "groupId": "9NkT25Vor1v4aQatFsv2",
            "appointmentStatus": status,
            "assignedUserId": "YlWd2wuCAZQzh2cH1fVZ",
            "users": ["YlWd2wuCAZQzh2cH1fVZ"],
            "notes": "Some dummy note",
            "source": "booking_widget",
            "startTime": "2023-09-25T16:00:00+05:30",
            "endTime": "2023-09-25T16:30:00+05:30",
            "dateAdded": "2023-09-25T16:00:00+05:30",
        },
    )


def inbound_sms(contact: str, body: str) -> dict[str, Any]:
    return delivery(
        "InboundMessage",
        attachments=[],
        body=body,
        contactId=contact,
        contentType="text/plain",
        conversationId="BjKkzvhAq3YlJaCadnkR",
        dateAdded="2021-04-21T11:31:45.750Z",
        direction="inbound",
        messageType="SMS",
        messageId="nXQ1rHvDqoJ9bI43NBuQ",
        status="delivered",
    )


async def post(stack: Stack, payload: dict[str, Any], **headers: str) -> Any:
    body = dumps(payload)
    return await stack.http.post(
        "/v1/hooks/highlevel", content=body, headers={**highlevel_headers(body), **headers}
    )


async def listening_contact(stack: Stack, criterion: dict[str, Any]) -> tuple[str, str]:
    automation = await publish(stack, listening(criterion))
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id


async def test_a_tag_update_adds_and_removes_against_the_contacts_tags(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(
        stack, {"event": "contact.tag_removed", "tag": "lead"}
    )
    first = tag_update(contact, ["lead", "vip"])
    answer = await post(stack, first)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}
    retry = await post(stack, first)
    assert retry.json()["duplicates"] == 1 and retry.json()["accepted"] == 0
    second = tag_update(contact, ["vip", "customer"])
    assert (await post(stack, second)).json()["accepted"] == 1
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"highlevel:{second['webhookId']}:remove:lead"
    contact_view = (await stack.http.get(f"/v1/contacts/{contact}")).json()
    assert sorted(contact_view["tags"]) == ["customer", "vip"]


async def test_an_appointment_meets_the_goal_and_a_trigger(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(
        stack, {"event": "appointment.status_changed", "status": ["confirmed"]}
    )
    booked = appointment(contact, "confirmed")
    assert (await post(stack, booked)).json()["accepted"] == 1
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"highlevel:{booked['webhookId']}"
    # A trigger on a calendar of its own: a new contact's no-show enrolls them.
    calendar = uuid.uuid4().hex
    automation = await publish(
        stack,
        {
            "name": "no-shows",
            "triggers": [
                {
                    "event": "appointment.status_changed",
                    "status": ["noshow"],
                    "calendar_id": calendar,
                }
            ],
            "steps": [{"id": "wait", "type": "wait", "duration": "P1D"}],
        },
    )
    stranger = new_id()
    assert (await post(stack, appointment(stranger, "noshow", calendar))).json()["accepted"] == 1

    async def active() -> list[str]:
        answer = await stack.http.get(f"/v1/contacts/{stranger}")
        found = answer.json().get("active_enrollments", []) if answer.status_code == 200 else []
        return [e["automation_id"] for e in found]

    await assert_eventually(active, lambda ids: automation in ids)


async def test_an_inbound_sms_is_a_reply(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(
        stack, {"event": "sms.received", "body_matches": "yes*"}
    )
    assert (await post(stack, inbound_sms(contact, "Yes please"))).json()["accepted"] == 1
    await until(stack, enrollment_id, goal_met("got"))
    email = inbound_sms(contact, "hi") | {"messageType": "Email"}
    answer = await post(stack, email)
    assert answer.json()["ignored_events"] == [
        {"index": 0, "reason": "messageType 'Email' has no goalflow meaning"}
    ]


async def test_forged_stale_and_unsigned_deliveries_are_401(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(stack, {"event": "sms.received"})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fresh_body = dumps(inbound_sms(contact, "hello"))
    stale = dumps(inbound_sms(contact, "hello") | delivery("InboundMessage", _stale()))
    for body, headers in (
        (fresh_body, highlevel_headers(fresh_body, key=other)),
        (fresh_body, highlevel_headers(b"{}")),
        (fresh_body, {"content-type": "application/json"}),
        (fresh_body, {"x-wh-signature": "not base64!"}),
        (stale, highlevel_headers(stale)),
    ):
        answer = await stack.http.post("/v1/hooks/highlevel", content=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]


def _stale() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=6)


async def test_a_created_contact_is_known_and_what_names_nobody_is_ignored(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    contact = new_id()
    created = delivery("ContactCreate", id=contact, email="JohnDeo@gmail.com", tags=[])
    assert (await post(stack, created)).json()["accepted"] == 1
    answer = await stack.http.get(f"/v1/contacts/{contact}")
    assert answer.status_code == 200, answer.text
    assert (await post(stack, created)).json()["duplicates"] == 1
    orphan = appointment(contact, "confirmed")
    orphan["appointment"]["contactId"] = None
    odd = appointment(contact, "rescheduled")
    for payload, reason in (
        (orphan, "names no contact: no appointment.contactId"),
        (odd, "appointmentStatus 'rescheduled' has no goalflow meaning"),
        (delivery("OpportunityCreate"), "type 'OpportunityCreate' has no goalflow meaning"),
    ):
        answer = await post(stack, payload)
        assert answer.json()["ignored_events"] == [{"index": 0, "reason": reason}], answer.text
