"""A flood of requests to one tracking link: every request is answered, but at most one event per
link, kind and minute is recorded, and the repeats cost no Temporal work; counted in /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.service import RPCError, RPCStatusCode

from api.main import create_app
from api.recent_links import RecentLinks
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import new_id
from tests.support.messaging import enroll, goal_events, messages_for, publish, until
from tests.support.stack import Stack

LISTENING = {
    "name": "flood",
    "steps": [
        {
            "id": "hello",
            "type": "send_email",
            "subject": "Hello",
            "html": '<p><a href="https://example.com/offer">offer</a></p>',
        },
        # Passed unmet: each event meeting one of them is recorded, and moves nothing (R4).
        {"id": "clicked", "type": "goal", "any_of": [{"event": "email.clicked"}]},
        {"id": "opened", "type": "goal", "any_of": [{"event": "email.opened"}]},
        {"id": "linked", "type": "goal", "any_of": [{"event": "trigger_link.clicked"}]},
        {"id": "wait", "type": "wait", "duration": "P1D"},
        {"id": "sentinel", "type": "goal", "any_of": [{"event": "custom", "name": "sentinel"}]},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingGoalflow(GoalflowService):
    """The real service, counting what tracking asks of Temporal; `fail_next` events fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events = 0
        self.catalogs = 0
        self.fail_next = 0

    async def send_event(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next -= 1
            raise RPCError("Temporal is away", RPCStatusCode.UNAVAILABLE, b"")
        self.events += 1
        return await super().send_event(*args, **kwargs)

    async def catalog(self) -> Any:
        self.catalogs += 1
        return await super().catalog()


@dataclass
class App:
    http: httpx.AsyncClient
    goalflow: CountingGoalflow
    clock: Clock
    tracker: Tracker


@asynccontextmanager
async def tracking_app(stack: Stack) -> AsyncIterator[App]:
    """The stack's API in process, with a clock we move and a count of Temporal calls."""
    app = create_app(stack.settings, stack.env.client)
    goalflow = CountingGoalflow(stack.env.client, stack.settings.task_queue)
    clock = Clock()
    app.state.goalflow = goalflow  # what lifespan does
    app.state.recent_links = RecentLinks(clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield App(http, goalflow, clock, Tracker(stack.settings.secret, stack.url))


async def sentinel(stack: Stack, contact: str, enrollment_id: str) -> dict[str, Any]:
    """Send a last event and wait for it: every event accepted before it has been applied."""
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "sentinel"}}
    )
    assert answer.status_code == 202, answer.text
    return await until(stack, enrollment_id, lambda v: ("sentinel", "custom") in goal_events(v))


def metric(text: str, kind: str, result: str) -> float:
    line = f'goalflow_tracking_requests_total{{kind="{kind}",result="{result}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_a_thousand_replays_of_a_link_are_one_event_per_kind(stack: Stack) -> None:
    link_id = new_id("l")
    put = await stack.http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Offer", "url": "https://example.com/t"}
    )
    assert put.status_code == 200, put.text
    automation = await publish(stack, LISTENING)
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "f@example.com"})
    [hello] = await messages_for(stack, contact, 1)
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    click = "/t/c/" + hello["links"][0].rsplit("/", 1)[1]
    async with tracking_app(stack) as app:
        trigger = app.tracker.token(
            TrackingKind.CLICK, TrackedTarget(contact_id=contact, link_id=link_id)
        )
        pixel = app.tracker.token(TrackingKind.OPEN, TrackedTarget(contact_id=contact))
        before = (await app.http.get("/metrics")).text
        for _ in range(1000):
            answer = await app.http.get(click)
            assert (answer.status_code, answer.headers["location"]) == (
                302,
                "https://example.com/offer",
            )
        for _ in range(200):
            answer = await app.http.get(f"/t/c/{trigger}")
            assert (answer.status_code, answer.headers["location"]) == (
                302,
                "https://example.com/t",
            )
            answer = await app.http.get(f"/t/o/{pixel}")
            assert (answer.status_code, answer.headers["content-type"]) == (200, "image/gif")
        # One event per link and kind; one catalog lookup for the trigger link.
        assert (app.goalflow.events, app.goalflow.catalogs) == (3, 1)
        after = (await app.http.get("/metrics")).text
    assert metric(after, "click", "recorded") - metric(before, "click", "recorded") == 2
    assert metric(after, "click", "repeat") - metric(before, "click", "repeat") == 1198
    assert metric(after, "open", "repeat") - metric(before, "open", "repeat") == 199
    view = await sentinel(stack, contact, enrollment_id)
    assert goal_events(view) == [
        ("clicked", "email.clicked"),
        ("linked", "trigger_link.clicked"),
        ("opened", "email.opened"),
        ("sentinel", "custom"),
    ]


async def test_a_link_records_again_after_a_minute(stack: Stack) -> None:
    async with tracking_app(stack) as app:
        token = app.tracker.token(
            TrackingKind.CLICK, TrackedTarget(contact_id=new_id(), url="https://example.com/")
        )
        for step in (0, 30, 29.9, 0.2, 10):  # at 0, 30, 59.9, 60.1, 70.1 seconds
            app.clock.now += step
            assert (await app.http.get(f"/t/c/{token}")).status_code == 302
        assert app.goalflow.events == 2  # at 0 and at 60.1


async def test_a_request_that_failed_to_record_does_not_count(stack: Stack) -> None:
    async with tracking_app(stack) as app:
        token = app.tracker.token(TrackingKind.OPEN, TrackedTarget(contact_id=new_id()))
        app.goalflow.fail_next = 1
        failed = await app.http.get(f"/t/o/{token}")
        assert failed.status_code == 503, failed.text
        assert (await app.http.get(f"/t/o/{token}")).status_code == 200
        assert (await app.http.get(f"/t/o/{token}")).status_code == 200
        assert app.goalflow.events == 1  # the second request recorded, the third was a repeat


def test_the_memory_is_bounded() -> None:
    recent = RecentLinks(max_entries=3, clock=Clock())
    for n in range(10):
        assert recent.claim(TrackingKind.OPEN, f"token-{n}")[0] is True
        assert recent.claim(TrackingKind.OPEN, f"token-{n}")[0] is False
    assert len(recent) == 3
    assert recent.claim(TrackingKind.OPEN, "token-0")[0] is True  # forgotten: first again
    # The same token of another kind is another entry.
    assert recent.claim(TrackingKind.CLICK, "token-9")[0] is True
