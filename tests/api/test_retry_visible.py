"""An action that is being retried says so (issue 12, fix 9): `waiting` is
`{"kind": "retrying", "attempt", "next_at"?, "last_error"}` while a webhook or an email is tried
again, and what a failed attempt leaves in the history is a short line, never the receiver's
answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import Settings
from tests.support.helpers import new_id, running_engine
from tests.support.messaging import enroll, publish, until
from tests.support.stack import Stack, free_port
from workflows.messages import EnrollmentView

BIG_BODY = b"<html>" + b"x" * 1_000_000 + b"</html>"


class FailingReceiver:
    """An HTTP server that answers 500, with a large body, `failures` times, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests += 1
                if receiver.requests <= receiver.failures:
                    self.send_response(500, "Internal Server Error " + "y" * 500)
                    self.send_header("content-length", str(len(BIG_BODY)))
                    self.end_headers()
                    self.wfile.write(BIG_BODY)
                else:
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[FailingReceiver]:
    state = FailingReceiver(failures=3)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


async def test_a_retrying_webhook_shows_its_attempts(
    stack: Stack, receiver: FailingReceiver
) -> None:
    automation = await publish(
        stack,
        {
            "name": "hook",
            "steps": [
                {"id": "notify", "type": "webhook", "url": receiver.url, "body": {"n": 1}},
                {"id": "after", "type": "add_tag", "tag": "notified"},
            ],
        },
    )
    enrollment_id = await enroll(stack, automation, {"id": new_id()})
    seen: list[dict[str, Any]] = []

    def retrying(view: dict[str, Any]) -> bool:
        waiting = view["waiting"] or {}
        if waiting.get("kind") == "retrying":
            seen.append(waiting)
        return view["status"] != "active" or (
            waiting.get("kind") == "retrying" and waiting["attempt"] >= 3
        )

    view = await until(stack, enrollment_id, retrying, within=30)
    assert seen, view
    waiting = seen[-1]
    assert set(waiting) <= {"kind", "attempt", "next_at", "last_error"}
    assert waiting["attempt"] >= 2
    assert view["current_step"] == "notify"
    assert "500" in waiting["last_error"] and len(waiting["last_error"]) < 300
    assert "x" * 50 not in waiting["last_error"]
    with_next = [w for w in seen if w.get("next_at")]
    assert with_next, seen
    entered = datetime.fromisoformat(view["timeline"][0]["at"])
    assert datetime.fromisoformat(with_next[-1]["next_at"]) > entered

    final = await until(stack, enrollment_id, lambda v: v["status"] != "active", within=60)
    assert final["status"] == "completed" and final["waiting"] is None
    notify = next(
        e for e in final["timeline"] if e["kind"] == "step_completed" and e["step_id"] == "notify"
    )
    assert notify["detail"]["status_code"] == 204
    assert receiver.requests == 4

    # What the failed attempts left in Temporal: short failures, nothing cut by the server.
    history = await stack.env.client.get_workflow_handle(enrollment_id).fetch_history()
    text = json.dumps(json.loads(history.to_json()))
    assert "exceeds size limit" not in text
    assert "x" * 50 not in text
    failures = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert len(failures) == 3
    for failure in failures:
        assert failure.ByteSize() < 4096, failure
        assert "500" in failure.message


class DeferringSmtp:
    """An SMTP server that defers (451) the first `deferrals` messages, then accepts."""

    def __init__(self, deferrals: int) -> None:
        self.deferrals = deferrals
        self.attempts = 0
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        content = (envelope.original_content or b"").decode("utf-8", "replace")
        self.message_ids += [
            line.split(":", 1)[1].strip()
            for line in content.splitlines()
            if line.lower().startswith("message-id:")
        ]
        if self.attempts <= self.deferrals:
            return "451 4.3.0 Try again later"
        return "250 OK"


async def test_a_retrying_email_shows_its_attempts(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    smtp = DeferringSmtp(deferrals=2)
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = Settings.model_validate(
        {
            "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
            "GOALFLOW_DATA_DIR": str(tmp_path),
        }
    )
    definition = {
        "name": "mail",
        "steps": [
            {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
            {"id": "after", "type": "add_tag", "tag": "mailed"},
        ],
    }
    seen: list[Any] = []

    def retrying(view: EnrollmentView) -> bool:
        if view.waiting is not None and view.waiting.kind == "retrying":
            seen.append(view.waiting)
        return view.status != "active" or bool(seen)

    try:
        async with running_engine(dev_env, settings=settings) as engine:
            contact = new_id()
            enrolled = await engine.enroll(definition, contact, contact={"email": "r@x.com"})
            view = await engine.until(enrolled.enrollment_id, retrying)
            final = await engine.result(enrolled.enrollment_id)
    finally:
        controller.stop()
    assert seen, view
    assert seen[0].attempt == 2 and "451" in (seen[0].last_error or "")
    assert view.current_step == "mail"
    assert final.status == "completed" and final.waiting is None
    assert smtp.attempts == 3
    assert len(set(smtp.message_ids)) == 1, "every attempt carries the same Message-ID"
    mail = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "mail")
    assert mail.detail == {"message_id": smtp.message_ids[0]}
