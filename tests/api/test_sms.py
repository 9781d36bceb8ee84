"""The send_sms step: the dev outbox provider over the stack, the Twilio-compatible provider
against a real local HTTP server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.sms import SmsMessage, TwilioSmsProvider, sms_provider
from goalflow.core.settings import Settings
from tests.support.helpers import new_id, running_engine
from tests.support.messaging import enroll, goal_events, messages_for, publish, step_detail, until
from tests.support.stack import Stack
from workflows.messages import SMS_REJECTED

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-test-token"


@dataclass
class FakeTwilio:
    """A local Messages API: answers each request with the next scripted status (the last one
    repeats) and keeps what it received."""

    url: str
    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    state = FakeTwilio(url="", statuses=[201])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            number = len(state.requests) + 1
            state.requests.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "form": {k: v[0] for k, v in parse_qs(body.decode()).items()},
                }
            )
            code = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            if code == 201:
                answer: dict[str, Any] = {"sid": f"SM{number:032d}", "status": "queued"}
            else:
                answer = {"code": 21211, "message": "The 'To' number is not a valid phone number."}
            payload = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


def twilio_settings(base_url: str, data_dir: Path, sender: str = "+15005550006") -> Settings:
    return Settings.model_validate(
        {
            "GOALFLOW_SMS_PROVIDER": "twilio",
            "GOALFLOW_TWILIO_BASE_URL": base_url,
            "GOALFLOW_TWILIO_ACCOUNT_SID": SID,
            "GOALFLOW_TWILIO_AUTH_TOKEN": TOKEN,
            "GOALFLOW_SMS_FROM": sender,
            "GOALFLOW_DATA_DIR": str(data_dir),
            "GOALFLOW_PUBLIC_URL": "https://go.example.com",
        }
    )


SMS_THEN_TAG = {
    "name": "sms",
    "steps": [
        {"id": "text", "type": "send_sms", "body": "Hi {{ contact.first_name }}, still keen?"},
        {"id": "after", "type": "add_tag", "tag": "texted"},
    ],
}


async def test_twilio_provider_sends_the_rendered_body(
    dev_env: WorkflowEnvironment, twilio: FakeTwilio, tmp_path: Path
) -> None:
    async with running_engine(dev_env, settings=twilio_settings(twilio.url, tmp_path)) as engine:
        contact = new_id()
        enrolled = await engine.enroll(
            SMS_THEN_TAG, contact, contact={"phone": "+15551230000", "first_name": "Ada"}
        )
        final = await engine.result(enrolled.enrollment_id)
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    expected = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["headers"]["authorization"] == f"Basic {expected}"
    assert request["form"] == {
        "To": "+15551230000",
        "From": "+15005550006",
        "Body": "Hi Ada, still keen?",
    }
    assert request["headers"]["idempotency-key"] == f"{enrolled.enrollment_id}:text:1"
    text = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "text")
    assert text.detail == {"message_id": f"SM{1:032d}"}
    assert final.status == "completed"


async def test_twilio_5xx_is_retried(
    dev_env: WorkflowEnvironment, twilio: FakeTwilio, tmp_path: Path
) -> None:
    twilio.statuses = [503, 429, 201]
    async with running_engine(dev_env, settings=twilio_settings(twilio.url, tmp_path)) as engine:
        enrolled = await engine.enroll(SMS_THEN_TAG, new_id(), contact={"phone": "+15551230001"})
        final = await engine.result(enrolled.enrollment_id)
    assert len(twilio.requests) == 3
    assert {r["headers"]["idempotency-key"] for r in twilio.requests} == {
        f"{enrolled.enrollment_id}:text:1"
    }
    text = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "text")
    assert text.detail == {"message_id": f"SM{3:032d}"}


async def test_twilio_4xx_is_a_permanent_failure_in_the_timeline(
    dev_env: WorkflowEnvironment, twilio: FakeTwilio, tmp_path: Path
) -> None:
    twilio.statuses = [400, 201]
    async with running_engine(dev_env, settings=twilio_settings(twilio.url, tmp_path)) as engine:
        enrolled = await engine.enroll(SMS_THEN_TAG, new_id(), contact={"phone": "not-a-number"})
        final = await engine.result(enrolled.enrollment_id)
    assert len(twilio.requests) == 1, "a 4xx answer is not retried"
    text = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "text")
    assert text.detail["result"] == "failed" and text.detail["error_type"] == SMS_REJECTED
    assert "400" in text.detail["error"] and "not a valid phone number" in text.detail["error"]
    assert final.status == "completed"
    assert final.timeline[-2].step_id == "after"


async def test_twilio_messaging_service_sender(twilio: FakeTwilio) -> None:
    async with httpx.AsyncClient() as http:
        provider = TwilioSmsProvider(
            http, base_url=twilio.url + "/", account_sid=SID, auth_token=TOKEN, sender="MG123"
        )
        message = SmsMessage(
            key="k",
            to="+15550000000",
            body="b",
            links=[],
            contact_id="c",
            enrollment_id="e",
            automation_id="a",
            step_id="s",
        )
        assert await provider.send(message) == f"SM{1:032d}"
    [request] = twilio.requests
    assert request["form"] == {"To": "+15550000000", "Body": "b", "MessagingServiceSid": "MG123"}


async def test_twilio_needs_its_settings(tmp_path: Path) -> None:
    settings = twilio_settings("http://127.0.0.1:9", tmp_path).model_copy(
        update={"twilio_auth_token": None, "sms_from": None}
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="GOALFLOW_TWILIO_AUTH_TOKEN, GOALFLOW_SMS_FROM"):
            sms_provider(settings, http)


async def test_sms_goes_to_the_dev_outbox_and_its_trigger_link_meets_a_goal(stack: Stack) -> None:
    link_id = new_id("l")
    put = await stack.http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Reply", "url": "https://example.com/r"}
    )
    assert put.status_code == 200
    automation = await publish(
        stack,
        {
            "name": "texts",
            "steps": [
                {
                    "id": "nudge",
                    "type": "send_sms",
                    "body": f"Hi {{{{ contact.first_name }}}}: {{{{ trigger_link('{link_id}') }}}}",
                },
                {
                    "id": "any-email-click",
                    "type": "goal",
                    "any_of": [{"event": "email.clicked"}],
                },
                {
                    "id": "tapped",
                    "type": "goal",
                    "any_of": [{"event": "trigger_link.clicked", "link_id": link_id}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
                {"id": "bye", "type": "send_sms", "body": "bye"},
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(
        stack, automation, {"id": contact, "phone": "+15550001111", "first_name": "Ada"}
    )
    [sms] = await messages_for(stack, contact, 1)
    assert (sms["channel"], sms["to"], sms["step_id"]) == ("sms", "+15550001111", "nudge")
    assert sms["enrollment_id"] == enrollment_id and sms["message_id"] == f"{enrollment_id}:nudge:1"
    [link] = sms["links"]
    assert sms["text"] == f"Hi Ada: {link}" and link.startswith(f"{stack.url}/t/c/")
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("goal") == "tapped")
    answer = await stack.http.get(link, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (302, "https://example.com/r")
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    # An SMS link is not an email click.
    assert goal_events(view) == [("tapped", "trigger_link.clicked")]
    assert len(await messages_for(stack, contact, 2)) == 2


async def test_contact_without_phone_is_skipped(stack: Stack) -> None:
    automation = await publish(
        stack, {"name": "nophone", "steps": [{"id": "t", "type": "send_sms", "body": "hi"}]}
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "n@example.com"})
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    assert step_detail(view, "t")["skipped"] == "no_phone"
