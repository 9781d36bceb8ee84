"""Twilio's messaging webhooks (incoming messages, status callbacks) over HTTP against a real
stack: form fields as Twilio documents them, signed its way with a test auth token. Replies are
attributed by the number goalflow last texted (a keyed hash of it names a PhoneWorkflow)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.provider_signing import (
    goal_met,
    hook_stack,
    listening,
    met_event,
    sentinel_then_goals,
    twilio_request,
)
from tests.support.stack import Stack

__all__ = ["hook_stack"]

GOALFLOW_NUMBER = "+15005550006"


def texting(criterion: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "texting",
        "steps": [
            {"id": "ask", "type": "send_sms", "body": "Still keen? Reply YES"},
            {"id": "wait", "type": "wait", "duration": "P1D"},
            {"id": "got", "type": "goal", "any_of": [criterion]},
            {"id": "sentinel", "type": "goal", "any_of": [{"event": "custom", "name": "sentinel"}]},
        ],
    }


def incoming(sender: str, body: str, **fields: str) -> dict[str, str]:
    """An incoming message as Twilio posts it
    (https://www.twilio.com/docs/messaging/guides/webhook-request)."""
    sid = "SM" + uuid.uuid4().hex
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": GOALFLOW_NUMBER,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **fields,
    }


def status_callback(recipient: str, status: str, **fields: str) -> dict[str, str]:
    """A message status callback as Twilio posts it
    (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)."""
    sid = "SM" + uuid.uuid4().hex
    return {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": recipient,
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": GOALFLOW_NUMBER,
        "ApiVersion": "2010-04-01",
        **fields,
    }


def a_number() -> tuple[str, str]:
    """One number written two ways: as the contact's profile has it, as Twilio sends it."""
    digits = f"{random.randrange(10**9):09d}"
    return f"+1 (9{digits[:2]}) {digits[2:5]}-{digits[5:]}", f"+19{digits}"


async def texted(stack: Stack, criterion: dict[str, Any]) -> tuple[str, str, str]:
    """Enroll a new contact; once the SMS went out and it waits: contact, enrollment, the
    number as Twilio writes it."""
    automation = await publish(stack, texting(criterion))
    written, e164 = a_number()
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "phone": written})
    await messages_for(stack, contact, 1)
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id, e164


async def post(stack: Stack, form: dict[str, str], **headers: str) -> Any:
    body, signed = twilio_request(stack, form)
    return await stack.http.post("/v1/hooks/twilio", content=body, headers={**signed, **headers})


async def test_a_reply_meets_the_goal_and_a_retry_is_a_duplicate(hook_stack: Stack) -> None:
    stack = hook_stack
    _, enrollment_id, number = await texted(
        stack, {"event": "sms.received", "body_matches": "yes*"}
    )
    other = incoming(number, "maybe")
    answer = await post(stack, other)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}, (
        answer.text
    )
    reply = incoming(number, "Yes please!")
    answer = await post(stack, reply)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"twilio:{reply['MessageSid']}"
    assert (await post(stack, reply)).json() == {
        "accepted": 0,
        "duplicates": 1,
        "ignored": 0,
        "ignored_events": [],
    }
    # A number goalflow never texted names no contact.
    stranger = incoming(a_number()[1], "yes")
    answer = await post(stack, stranger)
    assert answer.json()["ignored"] == 1
    [why] = answer.json()["ignored_events"]
    assert why["index"] == 0 and "goalflow never texted the number" in why["reason"], why
    # Twilio itself is answered in TwiML.
    twiml = await post(stack, incoming(number, "thanks"), **{"User-Agent": "TwilioProxy/1.1"})
    assert twiml.status_code == 200
    assert twiml.headers["content-type"].startswith("text/xml")
    assert twiml.text.endswith("<Response></Response>")


def tampered(signature: str) -> str:
    """The signature with its first character changed (never left as it was)."""
    return ("B" if signature[0] == "A" else "A") + signature[1:]


async def test_forged_requests_are_401_and_record_nothing(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id, number = await texted(stack, {"event": "sms.received"})
    form = incoming(number, "yes")
    body, signed = twilio_request(stack, form)
    _, other_token = twilio_request(stack, form, token="not-the-auth-token")
    elsewhere_url = {**form, "To": "+15550000000"}
    _, for_other_body = twilio_request(stack, elsewhere_url)
    attempts = [
        (body, {"content-type": signed["content-type"]}),
        (body, other_token),
        (body, for_other_body),
        (body + b"&Extra=1", signed),
        (body, {**signed, "X-Twilio-Signature": tampered(signed["X-Twilio-Signature"])}),
    ]
    for content, headers in attempts:
        answer = await stack.http.post("/v1/hooks/twilio", content=content, headers=headers)
        assert answer.status_code == 401, answer.text
    # Signed for another URL (a query string Twilio was not given).
    answer = await stack.http.post("/v1/hooks/twilio?x=1", content=body, headers=signed)
    assert answer.status_code == 401
    sentinel = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "sentinel"}}
    )
    assert sentinel.status_code == 202
    view = await until(stack, enrollment_id, goal_met("sentinel"))
    assert [e["step_id"] for e in view["timeline"] if e["kind"] == "goal_met"] == ["sentinel"]
    # Signed but not a message Twilio would send: 400.
    for malformed in ({"Body": "hi", "From": number}, {}):
        answer = await post(stack, malformed)
        assert answer.status_code == 400, answer.text


async def test_delivery_status_callbacks_meet_goals(hook_stack: Stack) -> None:
    stack = hook_stack
    _, enrollment_id, number = await texted(stack, {"event": "sms.delivered"})
    for status in ("queued", "sent"):
        answer = (await post(stack, status_callback(number, status))).json()
        assert answer["ignored"] == 1
        assert answer["ignored_events"] == [
            {"index": 0, "reason": f"MessageStatus {status!r} has no goalflow meaning"}
        ]
    delivered = status_callback(number, "delivered")
    assert (await post(stack, delivered)).json() == {
        "accepted": 1,
        "duplicates": 0,
        "ignored": 0,
        "ignored_events": [],
    }
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"twilio:{delivered['MessageSid']}:delivered"

    _, enrollment_id, number = await texted(stack, {"event": "sms.failed"})
    failed = status_callback(number, "undelivered", ErrorCode="30003")
    assert (await post(stack, failed)).json()["accepted"] == 1
    await until(stack, enrollment_id, goal_met("got"))


async def test_stop_unsubscribes_the_contact_from_sms_and_start_resubscribes(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    contact, _, number = await texted(stack, {"event": "sms.received", "body_matches": "nothing"})

    async def sms_unsubscribed() -> bool:
        answer = await stack.http.get(f"/v1/contacts/{contact}")
        return bool(answer.json()["sms_unsubscribed"])

    assert (await post(stack, incoming(number, " stop "))).json()["accepted"] == 1
    await assert_eventually(sms_unsubscribed, lambda v: v is True)
    # A new automation's SMS is not sent to an unsubscribed contact.
    automation = await publish(stack, texting({"event": "custom"}))
    again = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
    )
    assert again.status_code == 201, again.text
    view = await until(
        stack,
        again.json()["enrollment_id"],
        lambda v: any(
            e["kind"] == "step_completed" and e["step_id"] == "ask" for e in v["timeline"]
        ),
    )
    [asked] = [
        e for e in view["timeline"] if e["kind"] == "step_completed" and e["step_id"] == "ask"
    ]
    assert asked["detail"].get("skipped") == "unsubscribed", asked
    assert (await post(stack, incoming(number, "START"))).json()["accepted"] == 1
    await assert_eventually(sms_unsubscribed, lambda v: v is False)


# --- a text from a number goalflow never texted: the profiles that hold it ---------------------


async def test_a_text_from_a_number_never_texted_goes_to_the_profile_that_holds_it(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    written, e164 = a_number()
    automation = await publish(
        stack,
        {
            "name": "listening for a text",
            "steps": [
                {"id": "wait", "type": "wait", "duration": "P1D"},
                {"id": "got", "type": "goal", "any_of": [{"event": "sms.received"}]},
            ],
        },
    )
    contact = new_id()
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"phone": written})
    assert answer.status_code == 201, answer.text
    enrollment_id = await enroll(stack, automation, {"id": contact})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    text = incoming(e164, "Hi, it's Ana")
    answer = await post(stack, text)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"twilio:{text['MessageSid']}"


async def test_the_last_texted_contact_comes_before_the_profile(hook_stack: Stack) -> None:
    stack = hook_stack
    _, texted_enrollment, number = await texted(stack, {"event": "sms.received"})
    # Another contact's profile holds the same number, and it listens for texts too.
    other = new_id()
    answer = await stack.http.put(f"/v1/contacts/{other}", json={"phone": number})
    assert answer.status_code == 201, answer.text
    automation = await publish(stack, listening({"event": "sms.received"}))
    other_enrollment = await enroll(stack, automation, {"id": other})
    await until(stack, other_enrollment, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    answer = await post(stack, incoming(number, "yes"))
    assert answer.json()["accepted"] == 1, answer.text
    await until(stack, texted_enrollment, goal_met("got"))
    assert await sentinel_then_goals(stack, other, other_enrollment) == ["sentinel"]
