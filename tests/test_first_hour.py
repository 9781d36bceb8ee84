"""What a new user hit in the first hour (issue 12), each pinned by a test that failed before its
fix: templates, unsubscribing, the API's own docs and spec, email addresses, error answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from activities.email import EmailComposer
from goalflow.tracking import Tracker
from tests.conftest import Stack
from tests.helpers import new_id
from tests.messaging import enroll, messages_for, publish
from workflows.definition import SendEmailStep
from workflows.messages import ContactSnapshot, EmailRequest, StepContext
from workflows.templates import render

ROOT = Path(__file__).parent.parent
JSON = {"content-type": "application/json"}
WAITING = {"name": "waits", "steps": [{"id": "w", "type": "wait", "duration": "P30D"}]}


def email_request(subject: str, html: str, **contact: Any) -> EmailRequest:
    step = SendEmailStep.model_validate(
        {"id": "welcome", "type": "send_email", "subject": subject, "html": html}
    )
    snapshot = ContactSnapshot.model_validate({"id": "c-1", "email": "c@example.com"} | contact)
    context = StepContext(
        enrollment_id="enr:auto:c-1:1",
        automation_id="auto",
        step_id="welcome",
        visit=1,
        contact=snapshot,
    )
    return EmailRequest(context=context, step=step)


# --- 1. a missing field renders as nothing ------------------------------------------------------


def test_a_missing_contact_field_renders_as_nothing_never_none() -> None:
    nameless = ContactSnapshot(id="c-1", email="c@example.com")
    variables = nameless.template_context()
    assert render("Welcome {{ contact.first_name }}", variables) == "Welcome "
    assert render("Welcome {{ contact.last_name }}!", variables, autoescape=True) == "Welcome !"
    assert render("{{ contact.fields.plan }}|{{ contact.nickname }}", variables) == "|"
    # A field set to null is missing too; `default` fills it in as for an undefined name.
    with_null = ContactSnapshot(id="c-1", fields={"plan": None})
    assert render("{{ contact.plan }}{{ contact.fields.plan }}", with_null.template_context()) == ""
    assert render("Hi {{ contact.first_name | default('there') }}", variables) == "Hi there"
    # Values that are there still render, falsy ones included.
    named = ContactSnapshot(id="c-1", first_name="Ada", fields={"visits": 0, "vip": False})
    assert render("{{ contact.first_name }} {{ contact.visits }} {{ contact.vip }}",
                  named.template_context()) == "Ada 0 False"  # fmt: skip

    composer = EmailComposer(Tracker("s3cret", "https://go.example.com"), "news@example.com")
    message = composer.compose(email_request("Welcome {{ contact.first_name }}", "<p>Hi</p>"))
    assert message["Subject"] == "Welcome"  # folded whitespace, and no "None"


# --- 2. GET /t/u/{token} asks, POST unsubscribes --------------------------------------------------


async def is_unsubscribed(stack: Stack, contact_id: str) -> bool:
    # An event sent after the request is applied after anything the request recorded.
    sentinel = {"contact_id": contact_id, "type": "custom", "data": {"name": "sentinel"}}
    assert (await stack.http.post("/v1/events", json=sentinel)).status_code == 202
    profile = await stack.http.get(f"/v1/contacts/{contact_id}")
    assert profile.status_code == 200, profile.text
    return bool(profile.json()["unsubscribed"])


async def test_unsubscribe_link_asks_first_and_one_click_post_still_works(stack: Stack) -> None:
    automation = await publish(
        stack,
        {
            "name": "unsubscribe",
            "steps": [
                {"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>Hi</p>"},
                {"id": "w", "type": "wait", "duration": "P30D"},
            ],
        },
    )
    contact = new_id()
    await enroll(stack, automation, {"id": contact, "email": f"{contact}@example.com"})
    (message,) = await messages_for(stack, contact, 1)
    link = message["links"][-1]
    path = urlsplit(link).path
    assert path.startswith("/t/u/")

    # A link scanner (or a curious user) follows the link: a page with a form, no event.
    page = await stack.http.get(link)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    assert form is not None, page.text
    action = urljoin(link, form.group(1))
    assert urlsplit(action).path == path
    assert "no-store" in page.headers["cache-control"]
    assert not await is_unsubscribed(stack, contact)

    # The button posts the form; mail clients post RFC 8058's one-click body. Either unsubscribes.
    done = await stack.http.post(
        action,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "unsubscribed" in done.text.lower()
    assert await is_unsubscribed(stack, contact)

    # A forged token on either method: 404, as before.
    assert (await stack.http.get("/t/u/forged")).status_code == 404
    assert (await stack.http.post("/t/u/forged")).status_code == 404


def test_the_email_keeps_one_click_headers_pointing_at_the_post_route() -> None:
    composer = EmailComposer(Tracker("s3cret", "https://go.example.com"), "news@example.com")
    message = composer.compose(email_request("Hi", "<p>Hi</p>"))
    assert re.fullmatch(r"<https://go\.example\.com/t/u/[^>]+>", message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# --- 6. DELETE answers enrollment_id ------------------------------------------------------------


async def test_cancel_answers_the_enrollment_id(stack: Stack) -> None:
    automation = await publish(stack, WAITING)
    enrollment_id = await enroll(stack, automation, {"id": new_id()})
    answer = await stack.http.delete(f"/v1/enrollments/{enrollment_id}")
    assert answer.status_code == 200
    assert answer.json() == {"enrollment_id": enrollment_id, "status": "cancelled"}
    again = await stack.http.delete(f"/v1/enrollments/{enrollment_id}")
    assert again.json() == {"enrollment_id": enrollment_id, "status": "cancelled"}


# --- 10. events for a contact never seen create it -----------------------------------------------


async def test_an_event_for_an_unknown_contact_creates_it(stack: Stack) -> None:
    contact = new_id()
    assert (await stack.http.get(f"/v1/contacts/{contact}")).status_code == 404
    event = {"contact_id": contact, "type": "contact.tag_added", "data": {"tag": "x"}}
    assert (await stack.http.post("/v1/events", json=event)).status_code == 202
    profile = await stack.http.get(f"/v1/contacts/{contact}")
    assert profile.status_code == 200
    assert profile.json()["contact_id"] == contact


def test_docs_say_that_events_create_the_contact() -> None:
    api_md = (ROOT / "docs" / "api.md").read_text()
    rows = api_md.splitlines()
    events_row = next(line for line in rows if line.startswith("| `POST /v1/events`"))
    assert "creates the contact" in events_row, events_row
