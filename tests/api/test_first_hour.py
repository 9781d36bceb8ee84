"""What a new user hit in the first hour (issue 12), each pinned by a test that failed before its
fix: templates, unsubscribing, the API's own docs and spec, email addresses, error answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from activities.email import EmailComposer
from api.main import create_app
from goalflow.core.settings import Settings
from goalflow.core.templates import render
from goalflow.core.tracking import Tracker
from goalflow.core.validation import parse_automation
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, messages_for, publish
from tests.support.stack import Stack
from workflows.definition import SendEmailStep
from workflows.messages import ContactSnapshot, EmailRequest, StepContext

ROOT = Path(__file__).resolve().parents[2]
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


# --- 1. a missing field renders as nothing -------------------------------------------------------


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


# --- 2. GET /t/u/{token} asks, POST unsubscribes -------------------------------------------------


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


# --- 6. DELETE answers enrollment_id -------------------------------------------------------------


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


# --- 3. /docs works offline ----------------------------------------------------------------------


async def test_docs_pages_load_everything_from_the_api_itself(stack: Stack) -> None:
    for page_path in ("/docs", "/redoc"):
        page = await stack.http.get(page_path)
        assert page.status_code == 200, page_path
        assert "text/html" in page.headers["content-type"]
        # Every URL the page names is on this server: no CDN, no fonts, no favicon from afar.
        assert not re.search(r"(?:https?:)?//", page.text), re.findall(r"\S*//\S*", page.text)
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
        assets += re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"](/[^'"]+)['"]""", page.text)
        assert len(assets) >= 2, page.text
        assert "/openapi.json" in assets
        for asset in assets:
            answer = await stack.http.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 100, asset


# --- 5. email addresses are validated ------------------------------------------------------------

BAD_EMAILS = ["not-an-email", "ada@", "@example.com", "ada@@example.com", "ada example@x.com"]


async def test_an_invalid_email_address_is_a_422_when_enrolling(stack: Stack) -> None:
    automation = await publish(stack, WAITING)
    for bad in BAD_EMAILS:
        answer = await stack.http.post(
            f"/v1/automations/{automation}/enrollments",
            json={"contact": {"id": new_id(), "email": bad}},
        )
        assert answer.status_code == 422, (bad, answer.text)
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", "contact", "email"], error
        assert "email" in error["msg"].lower()
    contact = new_id()
    good = await stack.http.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": contact, "email": "ada.lovelace+news@example.co.uk"}},
    )
    assert good.status_code == 201, good.text


async def test_an_invalid_email_address_is_a_422_on_the_contact_profile(stack: Stack) -> None:
    contact = new_id()
    for bad in BAD_EMAILS:
        answer = await stack.http.put(f"/v1/contacts/{contact}", json={"email": bad})
        assert answer.status_code == 422, (bad, answer.text)
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", "email"], error
    assert (await stack.http.get(f"/v1/contacts/{contact}")).status_code == 404
    good = await stack.http.put(f"/v1/contacts/{contact}", json={"email": "ada@example.com"})
    assert good.status_code == 201, good.text


async def test_an_invalid_email_address_is_a_rejected_row_in_a_bulk_job(stack: Stack) -> None:
    automation = await publish(stack, WAITING)
    contacts = [{"id": new_id(), "email": f"{n}@example.com"} for n in range(3)]
    contacts.insert(1, {"id": new_id(), "email": "nobody-at-example.com"})
    started = await stack.http.post(
        f"/v1/automations/{automation}/enrollments/bulk", json={"contacts": contacts}
    )
    assert started.status_code == 202, started.text
    job = await assert_eventually(
        lambda: stack.http.get(f"/v1/jobs/{started.json()['job_id']}"),
        lambda answer: answer.json()["status"] != "running",
    )
    assert job.json()["created"] == 3
    (rejected,) = job.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["reason"].startswith("email: value is not a valid email address"), rejected


# --- 7. a 422 echoes a few KB at most, and says when the content type is wrong -------------------

FEW_KB = 8 * 1024


async def test_a_422_does_not_echo_a_large_input(stack: Stack) -> None:
    big = {"blob": "x" * 900_000}
    # No contact_id: the error's input is the whole body.
    cases = [
        ("POST", "/v1/events", {"type": "custom", "data": big}),
        ("POST", "/v1/events", {"contact_id": "c", "type": "nope" * 200_000}),
        ("PUT", f"/v1/automations/{new_id('a')}", {"name": "big", "steps": "x" * 900_000}),
        ("POST", "/v1/events/batch", {"events": [{"type": "custom", "data": big}]}),
    ]
    for method, path, body in cases:
        answer = await stack.http.request(method, path, json=body)
        assert answer.status_code in (422, 202), (path, answer.status_code)
        assert len(answer.content) < FEW_KB, (path, len(answer.content))
        if answer.status_code == 422:
            errors = answer.json()["detail"]
            assert errors and all("loc" in e and "msg" in e for e in errors)
    # Small inputs are still echoed as they were.
    small = await stack.http.post("/v1/events", json={"type": "custom", "data": {"a": 1}})
    (error,) = small.json()["detail"]
    assert error["loc"] == ["body", "contact_id"]
    assert error["input"] == {"type": "custom", "data": {"a": 1}}


async def test_a_json_body_without_a_json_content_type_is_told_so(stack: Stack) -> None:
    body = json.dumps({"contact_id": "c", "type": "custom", "data": {}}).encode()
    for content_type, named in [
        (None, "no Content-Type"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("text/plain", "text/plain"),
    ]:
        headers = {} if content_type is None else {"content-type": content_type}
        request = stack.http.build_request("POST", "/v1/events", content=body, headers=headers)
        assert request.headers.get("content-type") == content_type
        answer = await stack.http.send(request)
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body"]
        assert "Content-Type: application/json" in error["msg"], error
        assert named in error["msg"], error
    # The same body with the right content type is accepted.
    accepted = await stack.http.post("/v1/events", content=body, headers=JSON)
    assert accepted.status_code == 202


# --- 4. the spec types the automation body and declares the errors -------------------------------

A = "/v1/automations/{automation_id}"
# The error answers each route can give, beyond FastAPI's own 422 for a bad parameter.
ERRORS = {
    ("put", A): {"413", "422"},
    ("get", A): {"404"},
    ("post", f"{A}/enrollments"): {"404", "409", "413", "422"},
    ("post", f"{A}/enrollments/bulk"): {"404", "413", "422"},
    ("get", f"{A}/stats"): {"404"},
    ("get", "/v1/enrollments/{enrollment_id}"): {"404"},
    ("delete", "/v1/enrollments/{enrollment_id}"): {"404", "413"},
    ("get", "/v1/jobs/{job_id}"): {"404"},
    ("post", "/v1/events"): {"413", "422"},
    ("post", "/v1/events/batch"): {"413", "422"},
    ("get", "/v1/contacts/{contact_id}"): {"404"},
    ("post", "/v1/contacts/{contact_id}/tags"): {"413", "422"},
    ("put", "/v1/trigger-links/{link_id}"): {"413", "422"},
    ("get", "/t/c/{token}"): {"404"},
    ("get", "/t/o/{token}"): {"404"},
    ("get", "/t/u/{token}"): {"404"},
    ("post", "/t/u/{token}"): {"404", "413"},
}


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in refs(v)]
    return []


def test_the_spec_types_the_automation_body_and_declares_error_answers() -> None:
    spec = create_app(Settings(GOALFLOW_DEV=True)).openapi()
    schemas = spec["components"]["schemas"]
    body = spec["paths"][A]["put"]["requestBody"]["content"]["application/json"]
    automation = schemas[body["schema"]["$ref"].removeprefix("#/components/schemas/")]
    assert automation["title"] == "Automation"
    assert {"name", "steps", "settings"} <= set(automation["properties"])
    steps = json.dumps(schemas)
    for step_type in ("send_email", "wait", "goal", "if_else", "webhook", "end"):
        assert f'"{step_type}"' in steps
    # The example is a valid automation, and every $ref of the spec resolves.
    parsed, warnings = parse_automation(body["example"], {"book-call"})
    assert len(parsed.steps) >= 3 and warnings == []
    for ref in refs(spec):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    for (method, path), codes in ERRORS.items():
        declared = spec["paths"][path][method]["responses"]
        assert codes <= set(declared), (method, path, sorted(declared))
        for code in codes:
            assert declared[code]["description"], (method, path, code)
            assert "application/json" in declared[code]["content"], (method, path, code)
    # Whatever takes a body can be refused as too large.
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete"):
                assert "413" in operation["responses"], (method, path)
