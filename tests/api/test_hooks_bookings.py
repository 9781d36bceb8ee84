"""Booking tools' webhooks (Calendly, Cal.com) over HTTP against a real stack: payloads shaped as
each documents them, signed its way with test secrets, attributed by the token that
`{{ booking_link(url) }}` put in the booking URL of a real email."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.provider_signing import (
    calcom_headers,
    calendly_headers,
    dumps,
    goal_met,
    hook_stack,
    listening,
    met_event,
    sentinel_then_goals,
)
from tests.support.stack import Stack

__all__ = ["hook_stack"]

CONFIRMED = {"event": "appointment.status_changed", "status": ["confirmed"]}
NOBODY = (
    "names no contact: no booking link token, and no contact's profile has the invitee's email "
    "address"
)


async def booked_link(stack: Stack, url: str, criterion: dict[str, Any]) -> tuple[str, str, str]:
    """Enroll a new contact after an email holding `booking_link(url)`; follow the email's
    (click-tracked) link as the contact would: contact, enrollment, the booking URL reached."""
    email = {
        "id": "invite",
        "type": "send_email",
        "subject": "Book a call",
        "html": f"<a href=\"{{{{ booking_link('{url}') }}}}\">Book</a>",
    }
    automation = await publish(stack, listening(criterion, email))
    contact = f"c-{uuid.uuid4().hex[:10]}"
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": f"{contact}@ex.com"})
    [sent] = await messages_for(stack, contact, 1)
    click = await stack.http.get(sent["links"][0], follow_redirects=False)
    assert click.status_code == 302, click.text
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id, click.headers["location"]


def calendly_invitee(event: str, booking_url: str, **payload: Any) -> dict[str, Any]:
    """A Calendly webhook as its docs show it
    (https://developer.calendly.com/api-docs/overview/webhooks/webhook-payloads): the invitee as
    payload, the booking page's UTM parameters in `tracking`."""
    query = parse_qs(urlsplit(booking_url).query)
    scheduled = f"https://api.calendly.com/scheduled_events/{uuid.uuid4().hex[:16].upper()}"
    return {
        "created_at": "2026-11-27T17:51:19.000000Z",
        "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "event": event,
        "payload": {
            "cancel_url": "https://calendly.com/cancellations/AAAAAAAAAAAAAAAA",
            "created_at": "2026-11-27T17:51:18.327602Z",
            "email": "test@example.com",
            "event": scheduled,
            "name": "John Doe",
            "new_invitee": None,
            "old_invitee": None,
            "questions_and_answers": [],
            "reschedule_url": "https://calendly.com/reschedulings/AAAAAAAAAAAAAAAA",
            "rescheduled": False,
            "status": "active" if event == "invitee.created" else "canceled",
            "text_reminder_number": None,
            "timezone": "America/New_York",
            "tracking": {
                "utm_campaign": None,
                "utm_source": None,
                "utm_medium": None,
                "utm_content": query.get("utm_content", [None])[0],
                "utm_term": None,
                "salesforce_uuid": None,
            },
            "updated_at": "2026-11-27T17:51:18.341657Z",
            "uri": f"{scheduled}/invitees/{uuid.uuid4().hex[:16].upper()}",
            "scheduled_event": {
                "uri": scheduled,
                "name": "15 Minute Meeting",
                "status": "active",
                "event_type": "https://api.calendly.com/event_types/GBGBDCAADAEDCRZ2",
            },
            **payload,
        },
    }


def calcom_booking(trigger: str, booking_url: str, uid: str | None = None) -> dict[str, Any]:
    """A Cal.com webhook as its docs show it (https://cal.com/docs/developing/guides/automation/
    webhooks): the booking as payload, the booking page's `metadata[...]` parameters kept in
    its `metadata`."""
    query = parse_qs(urlsplit(booking_url).query)
    return {
        "triggerEvent": trigger,
        "createdAt": "2026-11-27T09:27:01.379Z",
        "payload": {
            "type": "30min",
            "title": "30 Min Meeting between Pro Example and John Doe",
            "description": "",
            "additionalNotes": "",
            "customInputs": {},
            "startTime": "2026-12-01T09:30:00Z",
            "endTime": "2026-12-01T10:00:00Z",
            "organizer": {
                "id": 5,
                "name": "Pro Example",
                "email": "pro@example.com",
                "timeZone": "Europe/London",
                "language": {"locale": "en"},
            },
            "responses": {"name": {"label": "your_name", "value": "John Doe"}},
            "attendees": [
                {
                    "email": "john@example.com",
                    "name": "John Doe",
                    "timeZone": "Asia/Kolkata",
                    "language": {"locale": "en"},
                }
            ],
            "location": "Cal Video",
            "eventTypeId": 7,
            "uid": uid or uuid.uuid4().hex,
            "bookingId": 91,
            "metadata": {"goalflow": token[0]}
            if (token := query.get("metadata[goalflow]"))
            else {},
            "status": "ACCEPTED",
        },
    }


async def test_calendly_booking_is_new_then_confirmed_and_a_retry_duplicates(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    _, enrollment_id, url = await booked_link(
        stack, "https://calendly.com/acme/intro?month=2026-12", CONFIRMED
    )
    assert urlsplit(url).netloc == "calendly.com" and "utm_content=" in url
    created = calendly_invitee("invitee.created", url)
    body = dumps(created)
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "ignored_events": []}, (
        answer.text
    )
    view = await until(stack, enrollment_id, goal_met("got"))
    invitee = created["payload"]["uri"]
    assert met_event(view, "got") == f"calendly:{invitee}:confirmed"
    retry = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert retry.json() == {"accepted": 0, "duplicates": 2, "ignored": 0, "ignored_events": []}
    # A booking made without goalflow's link, by someone no profile knows, names nobody.
    stranger = calendly_invitee(
        "invitee.created", "https://calendly.com/acme/intro", email=f"{uuid.uuid4().hex}@ex.com"
    )
    body = dumps(stranger)
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json()["accepted"] == 0 and answer.json()["ignored"] == 2
    assert answer.json()["ignored_events"] == [{"index": 0, "reason": NOBODY}] * 2


async def test_calendly_refuses_bad_stale_and_missing_signatures(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id, url = await booked_link(
        stack, "https://calendly.com/acme/intro", {"event": "appointment.status_changed"}
    )
    body = dumps(calendly_invitee("invitee.canceled", url))
    stale = calendly_headers(body, timestamp=int(time.time()) - 6 * 60)
    for headers in (
        calendly_headers(body, key="someone-else"),
        stale,
        calendly_headers(b"{}"),
        {"content-type": "application/json"},
        {"Calendly-Webhook-Signature": "v1=abc"},
    ):
        answer = await stack.http.post("/v1/hooks/calendly", content=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]
    for malformed in (b"[]", b"{no", b'{"event": "invitee.created", "payload": 3}'):
        answer = await stack.http.post(
            "/v1/hooks/calendly", content=malformed, headers=calendly_headers(malformed)
        )
        assert answer.status_code in (400, 422), (malformed, answer.text)


async def test_calcom_booking_meets_the_goal_and_cancellation_follows(hook_stack: Stack) -> None:
    stack = hook_stack
    _, enrollment_id, url = await booked_link(
        stack,
        "https://cal.com/acme/30min",
        {"event": "appointment.status_changed", "status": ["cancelled"], "calendar_id": "7"},
    )
    assert "metadata%5Bgoalflow%5D=" in url
    created = calcom_booking("BOOKING_CREATED", url)
    body = dumps(created)
    answer = await stack.http.post("/v1/hooks/cal_com", content=body, headers=calcom_headers(body))
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "ignored_events": []}, (
        answer.text
    )
    uid = created["payload"]["uid"]
    cancelled = dumps(calcom_booking("BOOKING_CANCELLED", url, uid=uid))
    answer = await stack.http.post(
        "/v1/hooks/cal_com", content=cancelled, headers=calcom_headers(cancelled)
    )
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"cal_com:{uid}:cancelled"
    retry = await stack.http.post(
        "/v1/hooks/cal_com", content=cancelled, headers=calcom_headers(cancelled)
    )
    assert retry.json() == {"accepted": 0, "duplicates": 1, "ignored": 0, "ignored_events": []}


async def test_calcom_refuses_bad_and_missing_signatures(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id, url = await booked_link(
        stack, "https://cal.example.com/acme/30min", {"event": "appointment.status_changed"}
    )
    body = dumps(calcom_booking("BOOKING_CREATED", url))
    for headers in (
        calcom_headers(body, secret="someone-else"),
        calcom_headers(body + b" "),
        {"content-type": "application/json"},
    ):
        answer = await stack.http.post("/v1/hooks/cal_com", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]
    for malformed in (b"[1]", b"nope", b'{"triggerEvent": "BOOKING_CREATED"}'):
        answer = await stack.http.post(
            "/v1/hooks/cal_com", content=malformed, headers=calcom_headers(malformed)
        )
        assert answer.status_code in (400, 422), (malformed, answer.text)


# --- bookings made from links shared elsewhere: the invitee's email address --------------------


async def listening_contact(stack: Stack, profile: dict[str, Any], *, put: bool) -> tuple[str, str]:
    """A new contact with `profile` (saved with `PUT /v1/contacts`, or given in the enrollment),
    enrolled to wait for a confirmed booking: contact, enrollment."""
    automation = await publish(stack, listening(CONFIRMED))
    contact = f"c-{uuid.uuid4().hex[:10]}"
    if put:
        answer = await stack.http.put(f"/v1/contacts/{contact}", json=profile)
        assert answer.status_code == 201, answer.text
        enrollment_id = await enroll(stack, automation, {"id": contact})
    else:
        enrollment_id = await enroll(stack, automation, {"id": contact, **profile})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id


async def test_a_calendly_booking_without_the_link_is_matched_by_the_invitee_email(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    address = f"Ana.{uuid.uuid4().hex[:8]}@Clinica.example"
    _, enrollment_id = await listening_contact(stack, {"email": address}, put=True)
    # From the clinic's website: no utm_content; Calendly gives the address as typed.
    booking = calendly_invitee(
        "invitee.created", "https://calendly.com/acme/intro", email=address.upper()
    )
    body = dumps(booking)
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"calendly:{booking['payload']['uri']}:confirmed"


async def test_the_booking_link_token_comes_before_the_email(hook_stack: Stack) -> None:
    stack = hook_stack
    _, linked_enrollment, url = await booked_link(
        stack, "https://calendly.com/acme/intro", CONFIRMED
    )
    other_address = f"{uuid.uuid4().hex[:8]}@ex.com"
    other, other_enrollment = await listening_contact(stack, {"email": other_address}, put=True)
    # Booked from goalflow's link, with another contact's address typed in.
    body = dumps(calendly_invitee("invitee.created", url, email=other_address))
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json()["accepted"] == 2, answer.text
    await until(stack, linked_enrollment, goal_met("got"))
    assert await sentinel_then_goals(stack, other, other_enrollment) == ["sentinel"]


async def test_a_calcom_booking_without_the_link_is_matched_by_the_attendee_email(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    address = f"jose.{uuid.uuid4().hex[:8]}@clínica.example"
    contact, enrollment_id = await listening_contact(stack, {"email": address}, put=False)
    booking = calcom_booking("BOOKING_CREATED", "https://cal.com/acme/30min")
    booking["payload"]["metadata"] = {}
    booking["payload"]["attendees"][0]["email"] = address.replace("clínica", "xn--clnica-4va")
    body = dumps(booking)
    answer = await stack.http.post("/v1/hooks/cal_com", content=body, headers=calcom_headers(body))
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"cal_com:{booking['payload']['uid']}:confirmed"
    # Once the profile has another address, the old one names nobody.
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"email": "new@ex.com"})
    assert answer.status_code == 201, answer.text  # the first save: the enrollment was not one
    again = calcom_booking("BOOKING_CANCELLED", "https://cal.com/acme/30min")
    again["payload"]["metadata"] = {}
    again["payload"]["attendees"][0]["email"] = address
    body = dumps(again)
    answer = await stack.http.post("/v1/hooks/cal_com", content=body, headers=calcom_headers(body))
    assert answer.json()["ignored_events"] == [{"index": 0, "reason": NOBODY}], answer.text


async def test_every_ignored_booking_says_why(hook_stack: Stack) -> None:
    stack = hook_stack
    cases: list[tuple[str, dict[str, Any], str]] = []
    unknown = calendly_invitee("routing_form_submission.created", "https://calendly.com/a")
    cases.append(("calendly", unknown, "event 'routing_form_submission.created' has no"))
    anonymous = calendly_invitee("invitee.created", "https://calendly.com/a", email=None)
    cases.append(("calendly", anonymous, "no invitee email (payload.email)"))
    # A no-show names its invitee by URI only.
    no_show = {
        "event": "invitee_no_show.created",
        "created_at": "2026-11-27T17:51:19.000000Z",
        "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "payload": {
            "uri": "https://api.calendly.com/invitee_no_shows/AAAA",
            "invitee": "https://api.calendly.com/scheduled_events/AAAA/invitees/AAAA",
            "created_at": "2026-11-27T17:51:19.000000Z",
        },
    }
    cases.append(("calendly", no_show, "no goalflow token in payload.tracking.utm_content"))
    meeting = calcom_booking("MEETING_ENDED", "https://cal.com/a/30min?metadata[goalflow]=x")
    cases.append(("cal_com", meeting, "triggerEvent 'MEETING_ENDED' has no goalflow meaning"))
    for provider, payload, reason in cases:
        body = dumps(payload)
        headers = calendly_headers(body) if provider == "calendly" else calcom_headers(body)
        answer = await stack.http.post(f"/v1/hooks/{provider}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["ignored"] == 1, (provider, answer.text)
        [why] = answer.json()["ignored_events"]
        assert why["index"] == 0 and reason in why["reason"], (reason, why)
