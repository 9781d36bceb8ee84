"""The send_email step over real SMTP: rendering, link tracking, the goal loop, failures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.testing import WorkflowEnvironment

from activities.email import EmailComposer, SmtpConfig, message_id_for, rewrite_links
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink, read_messages
from goalflow.core.tracking import Tracker, TrackingKind
from tests.support.helpers import assert_eventually, new_id, running_engine
from tests.support.messaging import (
    enroll,
    goal_events,
    messages_for,
    outbox,
    pixel_url,
    publish,
    step_detail,
    until,
)
from tests.support.stack import Stack, free_port
from workflows.definition import SendEmailStep
from workflows.messages import SMTP_REJECTED, ContactSnapshot, EmailRequest, StepContext

# --- composing, without a server ---------------------------------------------------------------

PUBLIC = "https://go.example.com"


def email_request(html: str, *, text: str | None = None, **contact: Any) -> EmailRequest:
    step = SendEmailStep.model_validate(
        {
            "id": "welcome",
            "type": "send_email",
            "subject": "Hi {{ contact.first_name }}",
            "html": html,
        }
        | ({"text": text} if text is not None else {})
    )
    snapshot = ContactSnapshot.model_validate(
        {"id": "c-1", "email": "ada@example.com", "first_name": "Ada"} | contact
    )
    context = StepContext(
        enrollment_id="enr:auto:c-1:1",
        automation_id="auto",
        step_id="welcome",
        visit=1,
        contact=snapshot,
    )
    return EmailRequest(context=context, step=step)


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_smtp_url_carries_tls_and_auth() -> None:
    plain = SmtpConfig.from_url("smtp://127.0.0.1:1025")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == (
        "127.0.0.1",
        1025,
        False,
        False,
    )
    assert plain.username is None and plain.password is None
    submission = SmtpConfig.from_url(
        "smtp://mailer:p%40ss%3Aword@mail.example.com:587?starttls=true"
    )
    assert submission.start_tls and not submission.use_tls
    assert (submission.username, submission.password) == ("mailer", "p@ss:word")
    implicit = SmtpConfig.from_url("smtps://u:p@mail.example.com?verify=false")
    assert implicit.use_tls and not implicit.start_tls
    assert implicit.port == 465 and implicit.validate_certs is False
    with pytest.raises(ValueError, match="smtp://"):
        SmtpConfig.from_url("http://mail.example.com")


def test_message_id_is_stable_per_send_and_a_valid_header() -> None:
    key = "enr:auto:odd..contact@x:1:welcome:2"
    assert message_id_for("enr:a:c.d:1:s:1", "x.org") != message_id_for("enr:a:c:d:1:s:1", "x.org")
    first, again = message_id_for(key, "example.com"), message_id_for(key, "example.com")
    assert first == again
    assert message_id_for("enr:auto:c:1:welcome:3", "example.com") != first
    assert first == "<enr.auto.odd%2E%2Econtact%40x.1.welcome.2@example.com>"
    parsed = message_from_bytes(f"Message-ID: {first}\n\n".encode(), policy=policy.default)
    assert not parsed["Message-ID"].defects


def test_compose_tracks_links_and_adds_pixel_and_unsubscribe() -> None:
    tracker = Tracker("s3cret", PUBLIC)
    html = (
        "<html><body><p>{{ contact.first_name }} {{ contact.fields.bio }}</p>"
        '<a href="https://shop.example.com/p?a=1&amp;b=2">shop</a> '
        "<A class='x' HREF='http://plain.example.com/'>plain</A> "
        '<a href="mailto:help@example.com">mail</a> <a href="#top">top</a> '
        "<a href=\"{{ trigger_link('book-call') }}\">book</a>"
        "</body></html>"
    )
    request = email_request(
        html,
        text="Shop at https://shop.example.com/p?a=1&b=2.",
        fields={"bio": "<script>x</script>"},
    )
    message = EmailComposer(tracker, "Team <team@mail.example.com>").compose(request)
    body = html_of(message)
    assert message["Subject"] == "Hi Ada"
    assert message["To"] == "Ada <ada@example.com>"
    assert message["Message-ID"] == message_id_for(request.context.key, "mail.example.com")
    assert message["X-Goalflow-Enrollment"] == "enr:auto:c-1:1"
    assert message["X-Goalflow-Automation"] == "auto"
    assert message["X-Goalflow-Step"] == "welcome"
    assert message["X-Goalflow-Contact"] == "c-1"
    # Contact data is escaped in HTML; the template's own markup is not.
    assert "&lt;script&gt;" in body and "<script>" not in body
    hrefs = re.findall(r"""href=["']([^"']+)["']""", body, re.IGNORECASE)
    assert hrefs[2:4] == ["mailto:help@example.com", "#top"]
    shop, plain, book, unsubscribe = hrefs[0], hrefs[1], hrefs[4], hrefs[5]
    assert plain.startswith(f"{PUBLIC}/t/c/")
    clicked = [tracker.read(TrackingKind.CLICK, urlsplit(u).path.split("/")[-1]) for u in hrefs]
    assert shop.startswith(f"{PUBLIC}/t/c/") and clicked[0] is not None
    assert clicked[0].url == "https://shop.example.com/p?a=1&b=2"
    assert (clicked[0].contact_id, clicked[0].automation_id, clicked[0].step_id) == (
        "c-1",
        "auto",
        "welcome",
    )
    assert clicked[1] is not None and clicked[1].url == "http://plain.example.com/"
    assert clicked[4] is not None and clicked[4].link_id == "book-call" and clicked[4].url is None
    assert book.startswith(f"{PUBLIC}/t/c/")
    assert "shop.example.com" not in body and "plain.example.com" not in body
    assert unsubscribe.startswith(f"{PUBLIC}/t/u/")
    assert tracker.read(TrackingKind.UNSUBSCRIBE, unsubscribe.rsplit("/", 1)[1]) is not None
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    # Pixel and footer go inside the body.
    assert body.index(pixel_url(body)) < body.index("</body>")
    assert tracker.read(TrackingKind.OPEN, pixel_url(body).rsplit("/", 1)[1]) is not None
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = str(text_part.get_content())
    assert "shop.example.com" not in text and f"{PUBLIC}/t/c/" in text
    assert text.rstrip().endswith(unsubscribe) and ". \n" not in text


def test_unsubscribe_url_in_template_replaces_the_footer() -> None:
    tracker = Tracker("s3cret", PUBLIC)
    request = email_request('<p><a href="{{ unsubscribe_url }}">Stop these</a></p>')
    body = html_of(EmailComposer(tracker, "x@example.com").compose(request))
    assert body.count("/t/u/") == 1 and "Stop these" in body


def test_rewrite_links_leaves_other_markup_alone() -> None:
    source = (
        '<p title="<a href=x>">t</p><a data-href="https://d.example/" href="https://a.example/">'
        'a</a><img src="https://i">'
    )
    out = rewrite_links(
        source, lambda url: "https://t.example/1" if url.startswith("https") else None
    )
    assert out == (
        '<p title="<a href=x>">t</p><a data-href="https://d.example/" href="https://t.example/1">'
        'a</a><img src="https://i">'
    )


# --- the goal loop over the stack --------------------------------------------------------------


async def click(stack: Stack, url: str) -> str:
    """GET a tracked link like a mail client would; the redirect target."""
    assert url.startswith(f"{stack.url}/t/c/"), url
    answer = await stack.http.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["cache-control"].startswith("no-store")
    return answer.headers["location"]


async def test_email_links_come_back_as_goal_events_end_to_end(stack: Stack) -> None:
    """Acceptance 1: trigger link and external link, both tracked; goals met; next emails go."""
    http = stack.http
    link = await http.put(
        "/v1/trigger-links/book-call",
        json={"name": "Book a call", "url": "https://cal.example.com/book"},
    )
    assert link.status_code == 200, link.text
    automation = await publish(
        stack,
        {
            "name": "e2e",
            "steps": [
                {
                    "id": "welcome",
                    "type": "send_email",
                    "subject": "Hi {{ contact.first_name }}",
                    "html": (
                        "<p>Book: <a href=\"{{ trigger_link('book-call') }}\">book</a></p>"
                        '<p>See <a href="https://example.org/pricing?plan=pro&amp;x=1">pricing</a></p>'
                    ),
                },
                {
                    "id": "booked",
                    "type": "goal",
                    "any_of": [{"event": "trigger_link.clicked", "link_id": "book-call"}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {
                    "id": "thanks",
                    "type": "send_email",
                    "subject": "Thanks",
                    "html": "<p>Booked!</p>",
                },
                {
                    "id": "priced",
                    "type": "goal",
                    "any_of": [
                        {
                            "event": "email.clicked",
                            "email_step": "welcome",
                            "url": "https://example.org/pricing*",
                        }
                    ],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {"id": "bye", "type": "send_email", "subject": "Bye", "html": "<p>bye</p>"},
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(
        stack, automation, {"id": contact, "email": "ada@example.com", "first_name": "Ada"}
    )
    [welcome] = await messages_for(stack, contact, 1)
    assert welcome["channel"] == "email" and welcome["to"] == "ada@example.com"
    assert welcome["subject"] == "Hi Ada"
    assert (welcome["enrollment_id"], welcome["step_id"]) == (enrollment_id, "welcome")
    assert welcome["message_id"] == message_id_for(f"{enrollment_id}:welcome:1", "goalflow.local")
    assert "example.org/pricing" not in welcome["html"]
    book, pricing, unsubscribe = welcome["links"]
    assert unsubscribe.startswith(f"{stack.url}/t/u/")
    view = await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("goal") == "booked")
    assert step_detail(view, "welcome")["message_id"] == welcome["message_id"]

    assert await click(stack, book) == "https://cal.example.com/book"
    thanks = (await messages_for(stack, contact, 2))[1]
    assert (thanks["subject"], thanks["step_id"]) == ("Thanks", "thanks")
    view = await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("goal") == "priced")
    booked = next(g for g in view["goals"] if g["step_id"] == "booked")
    assert booked["met"] and booked["event_id"]

    assert await click(stack, pricing) == "https://example.org/pricing?plan=pro&x=1"
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    assert [m["subject"] for m in await outbox(stack, contact)] == ["Hi Ada", "Thanks", "Bye"]
    assert all(g["met"] for g in view["goals"])
    assert ("priced", "email.clicked") in goal_events(view)


async def test_open_pixel_meets_an_opened_goal(stack: Stack) -> None:
    automation = await publish(
        stack,
        {
            "name": "opens",
            "steps": [
                {"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>hi</p>"},
                {
                    "id": "opened",
                    "type": "goal",
                    "any_of": [{"event": "email.opened", "email_step": "hello"}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {"id": "after", "type": "send_email", "subject": "After", "html": "<p>2</p>"},
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "o@example.com"})
    [hello] = await messages_for(stack, contact, 1)
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("goal") == "opened")
    pixel = await stack.http.get(pixel_url(hello["html"]))
    assert pixel.status_code == 200
    assert pixel.headers["content-type"] == "image/gif"
    assert pixel.content.startswith(b"GIF89a") and pixel.content[6:10] == b"\x01\x00\x01\x00"
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    assert ("opened", "email.opened") in goal_events(view)
    assert [m["subject"] for m in await outbox(stack, contact)] == ["Hello", "After"]


async def test_click_on_one_link_does_not_meet_a_goal_on_another(stack: Stack) -> None:
    automation = await publish(
        stack,
        {
            "name": "links",
            "steps": [
                {
                    "id": "two-links",
                    "type": "send_email",
                    "subject": "Links",
                    "html": '<a href="https://a.example.com/">A</a> <a href="https://b.example.com/">B</a>',
                },
                # Above the contact once it waits below: an event meeting it is recorded, nothing
                # moves. It tells when every earlier event has been applied.
                {
                    "id": "sentinel",
                    "type": "goal",
                    "any_of": [{"event": "custom", "name": "sentinel"}],
                },
                {
                    "id": "clicked-b",
                    "type": "goal",
                    "any_of": [{"event": "email.clicked", "url": "https://b.example.com/*"}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {"id": "after", "type": "send_email", "subject": "After", "html": "<p>2</p>"},
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "l@example.com"})
    [sent] = await messages_for(stack, contact, 1)
    link_a, link_b, _ = sent["links"]
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("goal") == "clicked-b")

    assert await click(stack, link_a) == "https://a.example.com/"
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "sentinel"}}
    )
    assert answer.status_code == 202
    view = await until(stack, enrollment_id, lambda v: ("sentinel", "custom") in goal_events(v))
    assert ("clicked-b", "email.clicked") not in goal_events(view)
    assert view["waiting"]["goal"] == "clicked-b" and view["status"] == "active"

    assert await click(stack, link_b) == "https://b.example.com/"
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    assert [m["subject"] for m in await outbox(stack, contact)] == ["Links", "After"]


async def test_unsubscribe_skips_later_emails_in_every_automation(stack: Stack) -> None:
    go_goal = {
        "id": "go",
        "type": "goal",
        "any_of": [{"event": "custom", "name": "go"}],
        "if_unmet": {"action": "wait", "timeout": "P1D"},
    }
    first = await publish(
        stack,
        {
            "name": "unsub-1",
            "steps": [
                {"id": "one", "type": "send_email", "subject": "One", "html": "<p>1</p>"},
                go_goal,
                {"id": "two", "type": "send_email", "subject": "Two", "html": "<p>2</p>"},
            ],
        },
    )
    second = await publish(
        stack,
        {
            "name": "unsub-2",
            "steps": [
                {"id": "three", "type": "send_email", "subject": "Three", "html": "<p>3</p>"},
                {
                    "id": "left",
                    "type": "goal",
                    "any_of": [{"event": "email.unsubscribed"}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {"id": "four", "type": "send_email", "subject": "Four", "html": "<p>4</p>"},
            ],
        },
    )
    contact = {"id": new_id(), "email": "u@example.com"}
    one = await enroll(stack, first, contact)
    three = await enroll(stack, second, contact)
    sent = await messages_for(stack, contact["id"], 2)
    assert sorted(m["subject"] for m in sent) == ["One", "Three"]
    await until(stack, one, lambda v: (v["waiting"] or {}).get("goal") == "go")
    await until(stack, three, lambda v: (v["waiting"] or {}).get("goal") == "left")

    from_first = next(m for m in sent if m["subject"] == "One")
    page = await stack.http.post(from_first["links"][-1])
    assert page.status_code == 200 and "unsubscribed" in page.text
    assert page.headers["content-type"].startswith("text/html")
    # The unsubscribe met the second automation's goal; its next email is skipped.
    view = await until(stack, three, lambda v: v["status"] == "completed")
    assert ("left", "email.unsubscribed") in goal_events(view)
    assert step_detail(view, "four") == {"skipped": "unsubscribed"}

    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact["id"], "type": "custom", "data": {"name": "go"}}
    )
    assert answer.status_code == 202
    view = await until(stack, one, lambda v: v["status"] == "completed")
    assert step_detail(view, "two") == {"skipped": "unsubscribed"}
    profile = (await stack.http.get(f"/v1/contacts/{contact['id']}")).json()
    assert profile["unsubscribed"] is True

    # A later enrollment starts from the contact's profile: unsubscribed too.
    third = await publish(
        stack,
        {
            "name": "unsub-3",
            "steps": [{"id": "five", "type": "send_email", "subject": "Five", "html": "<p>5</p>"}],
        },
    )
    five = await enroll(stack, third, contact)
    view = await until(stack, five, lambda v: v["status"] == "completed")
    assert step_detail(view, "five") == {"skipped": "unsubscribed"}
    assert sorted(m["subject"] for m in await outbox(stack, contact["id"])) == ["One", "Three"]


async def test_template_injection_is_refused_at_publish(stack: Stack) -> None:
    attempts = [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ contact|attr('__class__') }}",
        "{{ self._TemplateReference__context }}",
        "{{ request['__class__'] }}",
    ]
    for attempt in attempts:
        for field in ("html", "subject"):
            step = {"id": "evil", "type": "send_email", "subject": "s", "html": "<p>h</p>"}
            step[field] = attempt
            answer = await stack.http.put(
                f"/v1/automations/{new_id('a')}", json={"name": "evil", "steps": [step]}
            )
            assert answer.status_code == 422, (attempt, answer.text)
            [error] = answer.json()["detail"]
            assert error["loc"][-3:] == ["steps", 0, field], error
            assert "not allowed" in error["msg"]


# --- SMTP failures, on a worker with its own settings ------------------------------------------

EMAIL_THEN_TAG = {
    "name": "smtp",
    "steps": [
        {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"},
        {"id": "after", "type": "add_tag", "tag": "after-mail"},
    ],
}


def smtp_settings(port: int, data_dir: Path) -> Settings:
    return Settings.model_validate(
        {
            "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=5",
            "GOALFLOW_DATA_DIR": str(data_dir),
            "GOALFLOW_PUBLIC_URL": "http://127.0.0.1:9",
        }
    )


class ScriptedSmtp:
    """An SMTP server that answers DATA with the next scripted reply (the last one repeats)
    and keeps what it accepted."""

    def __init__(self, replies: list[str], *, refuse_rcpt: str | None = None) -> None:
        self.replies = replies
        self.refuse_rcpt = refuse_rcpt
        self.data_attempts = 0
        self.rcpt_attempts = 0
        self.accepted: list[EmailMessage] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_attempts += 1
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_attempts += 1
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.startswith("250"):
            parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.accepted.append(parsed)
        return reply


@pytest.fixture
def scripted_smtp() -> Iterator[tuple[ScriptedSmtp, int]]:
    handler = ScriptedSmtp(["250 OK"])
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, int(controller.port)
    controller.stop()


def _count(refusing: RefusingSmtp) -> Callable[[], Awaitable[int]]:
    async def connections() -> int:
        return refusing.connections

    return connections


class RefusingSmtp:
    """A port that accepts connections and drops them at once (an SMTP server that is down
    hard), counting the attempts."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(drop, "127.0.0.1", port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_smtp_down_is_retried_and_the_enrollment_carries_on(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    async with running_engine(dev_env, settings=smtp_settings(port, tmp_path)) as engine:
        contact = new_id()
        enrolled = await engine.enroll(EMAIL_THEN_TAG, contact, contact={"email": "d@example.com"})
        # The server drops every connection: the send fails and is attempted again.
        refusing = RefusingSmtp()
        await refusing.start(port)
        try:
            await assert_eventually(_count(refusing), lambda n: n >= 2)
        finally:
            await refusing.stop()
        assert read_messages(tmp_path / "outbox") == []
        assert (await engine.view(enrolled.enrollment_id)).current_step == "mail"
        sink = SmtpSink(tmp_path / "outbox", "127.0.0.1", port)
        sink.start()
        try:
            final = await engine.result(enrolled.enrollment_id)
        finally:
            sink.stop()
    [message] = read_messages(tmp_path / "outbox")
    assert message["enrollment_id"] == enrolled.enrollment_id
    assert final.status == "completed"
    mail = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "mail")
    assert mail.detail == {"message_id": message["message_id"]}
    assert final.timeline[-2].step_id == "after"


async def test_smtp_4xx_is_retried_with_the_same_message_id(
    dev_env: WorkflowEnvironment, tmp_path: Path, scripted_smtp: tuple[ScriptedSmtp, int]
) -> None:
    server, port = scripted_smtp
    server.replies = ["451 4.3.0 Try again later", "250 OK"]
    async with running_engine(dev_env, settings=smtp_settings(port, tmp_path)) as engine:
        enrolled = await engine.enroll(EMAIL_THEN_TAG, new_id(), contact={"email": "r@example.com"})
        final = await engine.result(enrolled.enrollment_id)
    assert server.data_attempts == 2
    [accepted] = server.accepted
    mail = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "mail")
    assert mail.detail == {"message_id": accepted["Message-ID"]}
    assert final.status == "completed"


async def test_smtp_5xx_is_a_permanent_failure_in_the_timeline(
    dev_env: WorkflowEnvironment, tmp_path: Path, scripted_smtp: tuple[ScriptedSmtp, int]
) -> None:
    server, port = scripted_smtp
    server.refuse_rcpt = "550 5.1.1 No such user here"
    async with running_engine(dev_env, settings=smtp_settings(port, tmp_path)) as engine:
        enrolled = await engine.enroll(EMAIL_THEN_TAG, new_id(), contact={"email": "x@example.com"})
        final = await engine.result(enrolled.enrollment_id)
    assert server.rcpt_attempts == 1, "a 5xx reply is not retried"
    assert server.accepted == []
    mail = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "mail")
    assert mail.detail["result"] == "failed"
    assert mail.detail["error_type"] == SMTP_REJECTED
    assert "550" in mail.detail["error"] and "No such user" in mail.detail["error"]
    # The enrollment carries on past the failed step and completes.
    assert final.status == "completed"
    assert [e.step_id for e in final.timeline if e.kind == "step_completed"] == ["mail", "after"]


async def test_template_that_fails_at_send_time_is_inert_and_not_retried(
    dev_env: WorkflowEnvironment, tmp_path: Path, scripted_smtp: tuple[ScriptedSmtp, int]
) -> None:
    """Attempts that pass the publish check (names built at run time) meet the sandbox: either
    they render as nothing or the step fails once, visibly, without running anything."""
    server, port = scripted_smtp
    inert = "{% set n = '__cla' ~ 'ss__' %}[{{ ''|attr(n) }}][{{ contact|attr(n) }}]"
    refused = "{% set n = '__in' ~ 'it__' %}{{ (cycler|attr(n))() }}"
    definition = {
        "name": "runtime",
        "steps": [
            {"id": "inert", "type": "send_email", "subject": "Inert", "html": inert},
            {"id": "refused", "type": "send_email", "subject": "Refused", "html": refused},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    }
    async with running_engine(dev_env, settings=smtp_settings(port, tmp_path)) as engine:
        enrolled = await engine.enroll(definition, new_id(), contact={"email": "t@example.com"})
        final = await engine.result(enrolled.enrollment_id)
    [accepted] = server.accepted
    assert accepted["Subject"] == "Inert"
    assert html_of(accepted).startswith("[][]")
    failed = next(
        e for e in final.timeline if e.kind == "step_completed" and e.step_id == "refused"
    )
    assert failed.detail["result"] == "failed" and failed.detail["error_type"] == "TemplateFailed"
    assert "SecurityError" in failed.detail["error"]
    assert final.status == "completed"


async def test_dev_outbox_is_filtered_by_contact(stack: Stack) -> None:
    automation = await publish(
        stack,
        {
            "name": "outbox",
            "steps": [{"id": "m", "type": "send_email", "subject": "M", "html": "<p>m</p>"}],
        },
    )
    first, second = new_id(), new_id()
    for contact in (first, second):
        await enroll(stack, automation, {"id": contact, "email": f"{contact}@example.com"})
    [mine] = await messages_for(stack, first, 1)
    [theirs] = await messages_for(stack, second, 1)
    assert mine["to"] == f"{first}@example.com" and mine["contact_id"] == first
    assert theirs["to"] == f"{second}@example.com"
    everyone = (await stack.http.get("/v1/dev/outbox")).json()["messages"]
    assert {first, second} <= {m["contact_id"] for m in everyone}


async def test_a_repeated_delivery_is_one_message_in_the_outbox(stack: Stack) -> None:
    # A send repeated after a crash (or a workflow task that timed out) reaches the sink again
    # under the same Message-ID: the file keeps both arrivals, the outbox lists one message.
    contact = new_id("again")
    message = EmailMessage()
    message["From"] = "goalflow@example.com"
    message["To"] = f"{contact}@example.com"
    message["Subject"] = "Once"
    message["Message-ID"] = f"<{contact}.hello.1@goalflow.local>"
    message["X-Goalflow-Contact"] = contact
    message.set_content("Only once, whatever the retries.")
    url = urlsplit(stack.settings.smtp_url)
    for _ in range(2):
        await aiosmtplib.send(message, hostname=url.hostname, port=url.port)
    listed = (await stack.http.get("/v1/dev/outbox", params={"contact_id": contact})).json()
    assert [(m["subject"], m["deliveries"]) for m in listed["messages"]] == [("Once", 2)]
    kept = [m for m in read_messages(stack.outbox_dir) if m["contact_id"] == contact]
    assert len(kept) == 2
    page = await stack.http.get("/ui/outbox", params={"contact_id": contact})
    assert page.text.count("<tr>") == 2  # the head's row and the message's
    assert "delivered 2 times under one Message-ID" in page.text
