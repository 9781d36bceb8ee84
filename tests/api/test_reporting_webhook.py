"""The reporting webhook (GOALFLOW_REPORTING_WEBHOOK_URL) against a real local receiver: each
enrollment's start, goals and end posted once each, signed per Standard Webhooks (verified with
the `standardwebhooks` package), retried until delivered, never holding the enrollment."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, publish, until
from tests.support.stack import Stack, free_port, open_stack

SECRET = "whsec_" + "cmVwb3J0aW5nLXdlYmhvb2stc2VjcmV0LTEyMzQ1Ng=="


@dataclass
class Receiver:
    """Answers each request with the next scripted status (the last one repeats)."""

    url: str
    statuses: list[int]
    requests: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies answered 2xx, each checked against its signature."""
        found = []
        for status, headers, body in list(self.requests):
            if status < 300:
                Webhook(SECRET).verify(body, headers)
                found.append(json.loads(body) | {"webhook-id": headers["webhook-id"]})
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            code = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((code, headers, body))
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/outcomes"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()


@asynccontextmanager
async def reporting_stack(env: WorkflowEnvironment, data: Path, url: str) -> AsyncIterator[Stack]:
    async with open_stack(
        env,
        data,
        GOALFLOW_REPORTING_WEBHOOK_URL=url,
        GOALFLOW_REPORTING_WEBHOOK_SECRET=SECRET,
        GOALFLOW_OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
    ) as stack:
        yield stack


GOAL_THEN_END = {
    "name": "paid",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P1D"},
        {"id": "paid", "type": "goal", "any_of": [{"event": "custom", "name": "paid"}]},
    ],
}


async def goal_met_and_ended(stack: Stack) -> tuple[str, str, str]:
    automation = await publish(stack, GOAL_THEN_END)
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "paid"}}
    )
    assert answer.status_code == 202, answer.text
    await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    return automation, contact, enrollment_id


def expected(automation: str, contact: str, enrollment_id: str) -> list[tuple[str, dict[str, Any]]]:
    base = {
        "enrollment_id": enrollment_id,
        "automation_id": automation,
        "version": 1,
        "contact_id": contact,
    }
    return [
        ("enrollment.started", base),
        ("goal.met", base | {"step_id": "paid"}),
        ("enrollment.ended", base | {"outcome": "completed"}),
    ]


def of(delivered: list[dict[str, Any]], enrollment_id: str) -> list[tuple[str, dict[str, Any]]]:
    mine = [d for d in delivered if d["data"]["enrollment_id"] == enrollment_id]
    return sorted(((d["type"], d["data"]) for d in mine), key=lambda t: ORDER.index(t[0]))


ORDER = ["enrollment.started", "goal.met", "enrollment.ended"]


async def test_the_three_outcomes_arrive_once_each_and_signed(
    dev_env: WorkflowEnvironment, tmp_path: Path, receiver: Receiver
) -> None:
    async with reporting_stack(dev_env, tmp_path, receiver.url) as stack:
        automation, contact, enrollment_id = await goal_met_and_ended(stack)
        want = expected(automation, contact, enrollment_id)
        await delivered_all(receiver, enrollment_id, want)
        ids = [d["webhook-id"] for d in receiver.delivered()]
        assert len(ids) == len(set(ids)) == 3
        assert all(d["timestamp"].endswith("Z") for d in receiver.delivered())


async def test_a_receiver_that_fails_three_times_gets_them_all(
    dev_env: WorkflowEnvironment, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503, 500, 200]
    async with reporting_stack(dev_env, tmp_path, receiver.url) as stack:
        automation, contact, enrollment_id = await goal_met_and_ended(stack)
        want = expected(automation, contact, enrollment_id)
        await delivered_all(receiver, enrollment_id, want)
        failed = [
            headers["webhook-id"] for status, headers, _ in receiver.requests if status >= 500
        ]
        assert len(failed) == 3
        # A retry carries the webhook-id of the first attempt.
        delivered = {d["webhook-id"] for d in receiver.delivered()}
        assert set(failed) <= delivered


async def test_a_dead_receiver_never_holds_the_enrollment(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/outcomes"
    async with reporting_stack(dev_env, tmp_path, dead) as stack:
        # Completes (the goal met, the end reached) while every report keeps failing.
        await goal_met_and_ended(stack)


async def delivered_all(
    receiver: Receiver, enrollment_id: str, want: list[tuple[str, dict[str, Any]]]
) -> None:
    async def probe() -> list[tuple[str, dict[str, Any]]]:
        return of(receiver.delivered(), enrollment_id)

    await assert_eventually(probe, lambda got: got == want, within=60)


async def test_a_cancelled_enrollment_reports_its_end(
    dev_env: WorkflowEnvironment, tmp_path: Path, receiver: Receiver
) -> None:
    async with reporting_stack(dev_env, tmp_path, receiver.url) as stack:
        automation = await publish(stack, GOAL_THEN_END)
        contact = new_id()
        enrollment_id = await enroll(stack, automation, {"id": contact})
        await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
        answer = await stack.http.delete(f"/v1/enrollments/{enrollment_id}")
        assert answer.status_code == 200, answer.text
        base = {
            "enrollment_id": enrollment_id,
            "automation_id": automation,
            "version": 1,
            "contact_id": contact,
        }
        await delivered_all(
            receiver,
            enrollment_id,
            [("enrollment.started", base), ("enrollment.ended", base | {"outcome": "cancelled"})],
        )
