"""The webhook step against a real local HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import Settings
from tests.support.helpers import new_id, running_engine


@dataclass
class Receiver:
    """Answers each request with the next scripted status (the last one repeats)."""

    url: str
    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
            code = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3ODkw"


def hook_automation(url: str) -> dict[str, Any]:
    return {
        "name": "hooks",
        "steps": [
            {
                "id": "notify",
                "type": "webhook",
                "url": f"{url}/hook",
                "headers": {"x-contact": "{{ contact.id }}"},
                "body": {"email": "{{ contact.email }}", "plan": "{{ contact.plan }}", "n": 1},
            },
            {"id": "after", "type": "add_tag", "tag": "notified"},
        ],
    }


async def test_webhook_is_signed_per_standard_webhooks(
    dev_env: WorkflowEnvironment, receiver: Receiver
) -> None:
    settings = Settings(GOALFLOW_WEBHOOK_SECRET=SECRET)
    async with running_engine(dev_env, settings=settings) as engine:
        contact = new_id()
        enrolled = await engine.enroll(
            hook_automation(receiver.url),
            contact,
            contact={"email": "ada@example.com", "fields": {"plan": "pro"}},
        )
        final = await engine.result(enrolled.enrollment_id)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    payload = Webhook(SECRET).verify(request["body"], headers)
    assert payload == {"email": "ada@example.com", "plan": "pro", "n": 1}
    assert headers["webhook-id"] == f"{enrolled.enrollment_id}:notify:1"
    assert headers["x-contact"] == contact
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlcg==").verify(request["body"], headers)
    notify = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "notify")
    assert notify.detail["status_code"] == 200
    assert final.status == "completed"


async def test_webhook_500_is_retried(dev_env: WorkflowEnvironment, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 204]
    async with running_engine(dev_env, settings=Settings(GOALFLOW_WEBHOOK_SECRET=SECRET)) as engine:
        enrolled = await engine.enroll(hook_automation(receiver.url), new_id())
        final = await engine.result(enrolled.enrollment_id)
    assert len(receiver.requests) == 3
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {f"{enrolled.enrollment_id}:notify:1"}, "retries carry the same webhook-id"
    notify = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "notify")
    assert notify.detail["status_code"] == 204


async def test_webhook_400_is_not_retried(dev_env: WorkflowEnvironment, receiver: Receiver) -> None:
    receiver.statuses = [400, 200]
    async with running_engine(dev_env, settings=Settings(GOALFLOW_WEBHOOK_SECRET=SECRET)) as engine:
        enrolled = await engine.enroll(hook_automation(receiver.url), new_id())
        final = await engine.result(enrolled.enrollment_id)
    assert len(receiver.requests) == 1
    notify = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "notify")
    assert notify.detail["result"] == "failed"
    assert "400" in notify.detail["error"]
    # A permanent failure is shown, and the enrollment carries on.
    assert final.status == "completed"
    assert [e.step_id for e in final.timeline if e.kind == "step_completed"][-1] == "after"
    assert json.loads(receiver.requests[0]["body"])["n"] == 1


async def test_a_template_error_in_the_body_is_not_retried(
    dev_env: WorkflowEnvironment, receiver: Receiver
) -> None:
    definition = hook_automation(receiver.url)
    definition["steps"][0]["body"] = {"n": "{{ 1/0 }}"}
    async with running_engine(dev_env, settings=Settings(GOALFLOW_WEBHOOK_SECRET=SECRET)) as engine:
        enrolled = await engine.enroll(definition, new_id())
        final = await engine.result(enrolled.enrollment_id)
    assert receiver.requests == []
    notify = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "notify")
    assert notify.detail["result"] == "failed"
    assert notify.detail["error_type"] == "TemplateFailed"
    assert "ZeroDivisionError" in notify.detail["error"]
    assert final.status == "completed"
