"""Email providers' webhooks (SendGrid, Mailgun, Postmark) over HTTP against a real stack: payloads
shaped as each provider documents them, signed its way with test secrets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from tests.support.messaging import until
from tests.support.provider_signing import (
    SECRETS,
    dumps,
    emailed,
    goal_met,
    hook_stack,
    mailgun_signature,
    met_event,
    postmark_headers,
    sendgrid_headers,
    sentinel_then_goals,
)
from tests.support.stack import Stack

__all__ = ["hook_stack"]

STALE = int(time.time()) - 6 * 60


def sendgrid_event(event: str, sent: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An event as SendGrid's Event Webhook reference shows it
    (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event): delivery events
    carry `smtp-id` (the Message-ID), engagement events the message's unique arguments as
    top-level fields."""
    common = {
        "email": sent["to"],
        "timestamp": int(time.time()),
        "event": event,
        "category": ["goalflow"],
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    }
    return {**common, **fields}


def sendgrid_unique_args(sent: dict[str, Any]) -> dict[str, Any]:
    """The unique arguments goalflow gave the email in its X-SMTPAPI header."""
    args: dict[str, Any] = json.loads(sent["provider_headers"]["X-SMTPAPI"])["unique_args"]
    return args


def mailgun_event(event: str, sent: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An event as Mailgun's webhook documentation shows it
    (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhooks): the event
    in `event-data`, the message's headers (Message-ID without angle brackets) and the
    X-Mailgun-Variables as `user-variables`."""
    return {
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "log-level": "info",
        "event": event,
        "recipient": sent["to"],
        "recipient-domain": "example.com",
        "tags": [],
        "campaigns": [],
        "envelope": {"transport": "smtp", "targets": sent["to"]},
        "message": {
            "headers": {
                "to": sent["to"],
                "message-id": sent["message_id"].strip("<>"),
                "from": sent["from"],
                "subject": sent["subject"],
            },
            "attachments": [],
            "size": 1234,
        },
        "user-variables": json.loads(sent["provider_headers"]["X-Mailgun-Variables"]),
        **fields,
    }


def postmark_open(sent: dict[str, Any]) -> dict[str, Any]:
    """An Open webhook as Postmark's documentation shows it
    (https://postmarkapp.com/developer/webhooks/open-tracking-webhook), its `Metadata` from the
    X-PM-Metadata-* headers of the email."""
    return {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "FirstOpen": True,
        "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
        "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
        "Platform": "WebMail",
        "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)",
        "ReadSeconds": 5,
        "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
        "MessageID": str(uuid.uuid4()),
        "Metadata": {"goalflow": sent["provider_headers"]["X-PM-Metadata-goalflow"]},
        "ReceivedAt": "2026-11-27T16:33:54.9070259Z",
        "Tag": "welcome-email",
        "Recipient": sent["to"],
    }


async def test_sendgrid_delivered_by_message_id_and_opened_by_unique_args(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    _, enrollment_id, sent = await emailed(stack, {"event": "email.opened", "email_step": "hello"})
    delivered = sendgrid_event("delivered", sent, **{"smtp-id": sent["message_id"]})
    opened = sendgrid_event("open", sent, useragent="Mozilla/5.0", **sendgrid_unique_args(sent))
    dropped = sendgrid_event("processed", sent)  # no goalflow meaning
    body = dumps([delivered, opened, dropped])
    answer = await stack.http.post(
        "/v1/hooks/sendgrid", content=body, headers=sendgrid_headers(body)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "accepted": 2,
        "duplicates": 0,
        "ignored": 1,
        "ignored_events": [{"index": 2, "reason": "event 'processed' has no goalflow meaning"}],
    }
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"sendgrid:{opened['sg_event_id']}"

    # SendGrid retries the same batch (new signature, same events): duplicates, applied once.
    again = await stack.http.post(
        "/v1/hooks/sendgrid", content=body, headers=sendgrid_headers(body)
    )
    assert again.json() == {
        "accepted": 0,
        "duplicates": 2,
        "ignored": 1,
        "ignored_events": [{"index": 2, "reason": "event 'processed' has no goalflow meaning"}],
    }


async def test_sendgrid_refuses_bad_stale_and_missing_signatures(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id, sent = await emailed(stack, {"event": "email.opened"})
    body = dumps([sendgrid_event("open", sent, **sendgrid_unique_args(sent))])
    good = sendgrid_headers(body)
    attempts = [
        (
            body,
            {
                **good,
                "X-Twilio-Email-Event-Webhook-Signature": sendgrid_headers(b"x")[
                    "X-Twilio-Email-Event-Webhook-Signature"
                ],
            },
        ),
        (body + b" ", good),  # the body changed after signing
        (body, sendgrid_headers(body, timestamp=STALE)),
        (body, {"content-type": "application/json"}),
        (body, {**good, "X-Twilio-Email-Event-Webhook-Signature": "not base64!"}),
    ]
    for content, headers in attempts:
        answer = await stack.http.post("/v1/hooks/sendgrid", content=content, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]


async def test_mailgun_clicked_by_variables_and_bounced_by_message_id(hook_stack: Stack) -> None:
    stack = hook_stack
    _, enrollment_id, sent = await emailed(
        stack, {"event": "email.clicked", "url": "https://example.com/*"}
    )
    clicked = mailgun_event("clicked", sent, url="https://example.com/x", ip="50.56.129.169")
    body = {"signature": mailgun_signature(), "event-data": clicked}
    answer = await stack.http.post("/v1/hooks/mailgun", json=body)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}, (
        answer.text
    )
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"mailgun:{clicked['id']}"
    # Mailgun's retry: a new signature, the same event.
    retry = await stack.http.post(
        "/v1/hooks/mailgun", json={"signature": mailgun_signature(), "event-data": clicked}
    )
    assert retry.json() == {"accepted": 0, "duplicates": 1, "ignored": 0, "ignored_events": []}

    # Without the variables, the Message-ID names the contact; a temporary failure means
    # nothing yet.
    _, enrollment_id, sent = await emailed(stack, {"event": "email.bounced"})
    temporary = mailgun_event("failed", sent, severity="temporary", reason="generic")
    bounced = mailgun_event(
        "failed",
        sent,
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "No such mailbox"}},
    )
    for event in (temporary, bounced):
        del event["user-variables"]
    answers = [
        await stack.http.post(
            "/v1/hooks/mailgun", json={"signature": mailgun_signature(), "event-data": e}
        )
        for e in (temporary, bounced)
    ]
    assert [a.json()["ignored"] for a in answers] == [1, 0]
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"mailgun:{bounced['id']}"


async def test_mailgun_refuses_bad_stale_and_missing_signatures(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id, sent = await emailed(stack, {"event": "email.opened"})
    event = mailgun_event("opened", sent)
    forged = mailgun_signature(key="key-someone-else")
    tampered = {**mailgun_signature(), "token": "another-token-of-fifty-characters-000000000000000"}
    for signature in (forged, tampered, mailgun_signature(timestamp=STALE), None, "x"):
        body: dict[str, Any] = {"event-data": event}
        if signature is not None:
            body["signature"] = signature
        answer = await stack.http.post("/v1/hooks/mailgun", json=body)
        assert answer.status_code == 401, (signature, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]


async def test_postmark_open_by_metadata_and_basic_auth(hook_stack: Stack) -> None:
    stack = hook_stack
    _, enrollment_id, sent = await emailed(stack, {"event": "email.opened"})
    record = postmark_open(sent)
    body = dumps(record)
    for headers in (
        postmark_headers("goalflow:wrong"),
        {"content-type": "application/json"},
        {**postmark_headers(), "Authorization": "Bearer goalflow:postmark-test-password"},
    ):
        refused = await stack.http.post("/v1/hooks/postmark", content=body, headers=headers)
        assert refused.status_code == 401, refused.text
    answer = await stack.http.post("/v1/hooks/postmark", content=body, headers=postmark_headers())
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}, (
        answer.text
    )
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got").startswith("postmark:Open:")
    retry = await stack.http.post("/v1/hooks/postmark", content=body, headers=postmark_headers())
    assert retry.json() == {"accepted": 0, "duplicates": 1, "ignored": 0, "ignored_events": []}


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "postmark"])
async def test_malformed_bodies_are_4xx(hook_stack: Stack, provider: str) -> None:
    bodies = [b"", b"{not json", b"[1, 2", b'"a string"', b"\xff\xfe"]
    for body in bodies:
        if provider == "sendgrid":
            headers = sendgrid_headers(body)
        elif provider == "postmark":
            headers = postmark_headers()
        else:
            headers = {"content-type": "application/json"}
        answer = await hook_stack.http.post(f"/v1/hooks/{provider}", content=body, headers=headers)
        # Mailgun's signature is inside the body: one that cannot be read has none (401).
        assert answer.status_code in (400, 401, 422), (provider, body, answer.status_code)
        if provider != "mailgun":
            assert answer.status_code in (400, 422), (provider, body, answer.text)
    # Signed, well-formed, and about nothing goalflow sent: ignored.
    unknown = {"message-id": "someone-else@example.com"}
    if provider == "mailgun":
        event = {"id": "x1", "event": "opened", "message": {"headers": unknown}}
        answer = await hook_stack.http.post(
            "/v1/hooks/mailgun", json={"signature": mailgun_signature(), "event-data": event}
        )
        assert answer.json()["ignored"] == 1
        [why] = answer.json()["ignored_events"]
        assert why["index"] == 0 and "no goalflow Message-ID" in why["reason"], why
        wrong = await hook_stack.http.post(
            "/v1/hooks/mailgun", json={"signature": mailgun_signature(), "event-data": [1]}
        )
        assert wrong.status_code == 400


async def test_unknown_provider_is_404(hook_stack: Stack) -> None:
    for name in ("paypal", "SendGrid", "twilio2", "..", "%20"):
        answer = await hook_stack.http.post(f"/v1/hooks/{name}", content=b"{}")
        assert answer.status_code == 404, (name, answer.text)


async def test_a_provider_without_its_secret_is_404(stack: Stack) -> None:
    """The session stack sets no provider secret: every provider answers as unknown."""
    providers = ("sendgrid", "mailgun", "postmark", "twilio", "calendly", "cal_com")
    for provider in (*providers, "stripe", "shopify", "highlevel"):
        answer = await stack.http.post(f"/v1/hooks/{provider}", content=b"{}")
        assert answer.status_code == 404, (provider, answer.text)


async def test_hooks_are_not_behind_api_keys(dev_env: WorkflowEnvironment) -> None:
    """With GOALFLOW_API_KEYS set, a hook is judged by its provider's signature alone."""
    settings = Settings.model_validate({"GOALFLOW_API_KEYS": "k", **SECRETS})
    app = create_app(settings, dev_env.client)
    app.state.goalflow = GoalflowService(dev_env.client, f"unused-{uuid.uuid4()}")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        events = await http.post("/v1/events", json={"contact_id": "c", "type": "custom"})
        assert events.status_code == 401 and "API key" in events.text
        forged = {"signature": mailgun_signature(key="not-the-key"), "event-data": {}}
        answer = await http.post("/v1/hooks/mailgun", json=forged)
        assert answer.status_code == 401 and "bad signature" in answer.text, answer.text
        unknown = {"id": "x", "event": "opened", "message": {"headers": {"message-id": "a@b"}}}
        signed = {"signature": mailgun_signature(), "event-data": unknown}
        answer = await http.post("/v1/hooks/mailgun", json=signed)
        assert answer.json()["ignored"] == 1, answer.text
        [why] = answer.json()["ignored_events"]
        assert "names no contact: no goalflow token in user-variables" in why["reason"], why
