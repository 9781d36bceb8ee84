"""Booking tools' webhooks (Calendly, Cal.com) over HTTP against a real stack: payloads shaped as
each documents them, signed its way with test secrets, attributed by the token that
`{{ booking_link(url) }}` put in the booking URL of a real email."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import Stack
from tests.hooks import (
    calcom_headers,
    calendly_headers,
    dumps,
    goal_met,
    hook_stack,
    listening,
    met_event,
    sentinel_then_goals,
)
from tests.messaging import enroll, messages_for, publish, until

__all__ = ["hook_stack"]

CONFIRMED = {"event": "appointment.status_changed", "status": ["confirmed"]}


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
            "metadata": {"goalflow": query["metadata[goalflow]"][0]},
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
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}, answer.text
    view = await until(stack, enrollment_id, goal_met("got"))
    invitee = created["payload"]["uri"]
    assert met_event(view, "got") == f"calendly:{invitee}:confirmed"
    retry = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert retry.json() == {"accepted": 0, "duplicates": 2, "ignored": 0}
    # A booking made without goalflow's link names nobody.
    stranger = calendly_invitee("invitee.created", "https://calendly.com/acme/intro")
    body = dumps(stranger)
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json() == {"accepted": 0, "duplicates": 0, "ignored": 1}


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
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}, answer.text
    uid = created["payload"]["uid"]
    cancelled = dumps(calcom_booking("BOOKING_CANCELLED", url, uid=uid))
    answer = await stack.http.post(
        "/v1/hooks/cal_com", content=cancelled, headers=calcom_headers(cancelled)
    )
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"cal_com:{uid}:cancelled"
    retry = await stack.http.post(
        "/v1/hooks/cal_com", content=cancelled, headers=calcom_headers(cancelled)
    )
    assert retry.json() == {"accepted": 0, "duplicates": 1, "ignored": 0}


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
