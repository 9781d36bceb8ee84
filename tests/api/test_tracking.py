"""Tracking tokens and the /t/ endpoints: genuine tokens become events, anything else is a 404
and no event."""

from __future__ import annotations

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.recent_links import RecentLinks
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import new_id
from tests.support.messaging import enroll, goal_events, messages_for, publish, until
from tests.support.stack import Stack

TARGET = TrackedTarget(
    contact_id="c-1",
    automation_id="auto",
    enrollment_id="enr:auto:c-1:1",
    step_id="welcome",
    channel="email",
    url="https://example.com/a?b=1&c=2",
)


def tampered(token: str) -> list[str]:
    """Ways to break a genuine token: truncate it, change a character of the payload or of the
    signature, drop the signature."""
    payload, _, signature = token.rpartition(".")
    flip = "A" if payload[1] != "A" else "B"
    return [
        token[:-1],
        token[: len(token) // 2],
        payload[:1] + flip + payload[2:] + "." + signature,
        payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        payload,
        "",
        "not-a-token",
    ]


def test_token_round_trip_and_tampering() -> None:
    tracker = Tracker("s3cret", "https://go.example.com/")
    for kind in TrackingKind:
        token = tracker.token(kind, TARGET)
        assert tracker.read(kind, token) == TARGET
        assert tracker.url(kind, TARGET) == f"https://go.example.com/t/{kind.value}/{token}"
        for broken in tampered(token):
            assert tracker.read(kind, broken) is None, broken
    # A token of one kind is not a token of another.
    assert tracker.read(TrackingKind.CLICK, tracker.token(TrackingKind.OPEN, TARGET)) is None
    assert tracker.read(TrackingKind.OPEN, tracker.token(TrackingKind.UNSUBSCRIBE, TARGET)) is None
    # Signed with another key: refused.
    other = Tracker("another-secret", "https://go.example.com")
    assert tracker.read(TrackingKind.CLICK, other.token(TrackingKind.CLICK, TARGET)) is None
    assert tracker.read(TrackingKind.CLICK, "x" * 5000) is None
    assert tracker.is_tracking_url(tracker.url(TrackingKind.CLICK, TARGET))
    assert not tracker.is_tracking_url("https://go.example.com/other")


def test_a_genuine_signature_over_a_payload_that_is_not_a_target_is_refused() -> None:
    tracker = Tracker("s3cret", "https://go.example.com")
    serializer = URLSafeSerializer("s3cret", salt="goalflow.tracking.click")
    for payload in ({"x": 1}, [1, 2], {"c": ""}, {"c": "c-1", "ch": "fax"}):
        assert tracker.read(TrackingKind.CLICK, serializer.dumps(payload)) is None


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="GOALFLOW_SECRET"):
        Tracker("", "https://go.example.com")


# --- over HTTP --------------------------------------------------------------------------------

LISTENING = {
    "name": "listening",
    "steps": [
        {"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>hi</p>"},
        {"id": "wait", "type": "wait", "duration": "P1D"},
        # Below the wait: each event meeting one of these is recorded in the timeline (and
        # would cut the wait short).
        {"id": "clicked", "type": "goal", "any_of": [{"event": "email.clicked"}]},
        {"id": "opened", "type": "goal", "any_of": [{"event": "email.opened"}]},
        {"id": "left", "type": "goal", "any_of": [{"event": "email.unsubscribed"}]},
        {"id": "linked", "type": "goal", "any_of": [{"event": "trigger_link.clicked"}]},
        {"id": "sentinel", "type": "goal", "any_of": [{"event": "custom", "name": "sentinel"}]},
    ],
}


async def test_forged_truncated_and_resigned_tokens_are_404_and_no_event(stack: Stack) -> None:
    automation = await publish(stack, LISTENING)
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "f@example.com"})
    [hello] = await messages_for(stack, contact, 1)
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    target = TrackedTarget(
        contact_id=contact,
        automation_id=automation,
        enrollment_id=enrollment_id,
        step_id="hello",
        channel="email",
        url="https://evil.example.com/",
    )
    trigger = TrackedTarget(contact_id=contact, link_id="anything")
    genuine = Tracker(stack.settings.secret, stack.url)
    other_key = Tracker("not-the-secret", stack.url)
    unsubscribe_token = hello["links"][-1].rsplit("/", 1)[1]
    attempts: list[str] = []
    for kind, path in ((TrackingKind.CLICK, "c"), (TrackingKind.OPEN, "o")):
        attempts += [f"/t/{path}/{other_key.token(kind, target)}"]
        attempts += [f"/t/{path}/{t}" for t in tampered(genuine.token(kind, target)) if t]
    attempts += [f"/t/c/{other_key.token(TrackingKind.CLICK, trigger)}"]
    attempts += [f"/t/u/{other_key.token(TrackingKind.UNSUBSCRIBE, target)}"]
    attempts += [f"/t/u/{t}" for t in tampered(unsubscribe_token) if t]
    # A genuine token on the wrong endpoint.
    attempts += [f"/t/c/{unsubscribe_token}", f"/t/o/{unsubscribe_token}"]
    for path in attempts:
        answer = await stack.http.get(path, follow_redirects=False)
        assert answer.status_code == 404, (path, answer.status_code, answer.text)
        assert "location" not in answer.headers
    for path in [f"/t/u/{t}" for t in tampered(unsubscribe_token) if t]:
        assert (await stack.http.post(path)).status_code == 404

    # Events are applied in order: once the sentinel is seen, any event from above would be too.
    sent = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "sentinel"}}
    )
    assert sent.status_code == 202
    view = await until(stack, enrollment_id, lambda v: ("sentinel", "custom") in goal_events(v))
    assert goal_events(view) == [("sentinel", "custom")]
    profile = (await stack.http.get(f"/v1/contacts/{contact}")).json()
    assert profile["unsubscribed"] is False


async def test_each_click_a_minute_apart_is_a_new_event(stack: Stack) -> None:
    """Repeats within a minute are answered but not recorded (tests/api/test_tracking_flood.py)."""
    automation = await publish(
        stack,
        {
            "name": "twice",
            "steps": [
                {
                    "id": "hello",
                    "type": "send_email",
                    "subject": "Hello",
                    "html": '<a href="https://example.com/x">x</a>',
                },
                {"id": "clicked", "type": "goal", "any_of": [{"event": "email.clicked"}]},
                {"id": "wait", "type": "wait", "duration": "P1D"},
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "t@example.com"})
    [hello] = await messages_for(stack, contact, 1)
    # Passed the goal unmet; now clicks are recorded against it and move nothing (R4).
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    clock = [0.0]
    app = create_app(stack.settings, stack.env.client)
    app.state.goalflow = GoalflowService(stack.env.client, stack.settings.task_queue)
    app.state.recent_links = RecentLinks(clock=lambda: clock[0])
    path = "/t/c/" + hello["links"][0].rsplit("/", 1)[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as h:
        for _ in range(2):
            answer = await h.get(path)
            assert answer.status_code == 302
            assert answer.headers["location"] == "https://example.com/x"
            clock[0] += 61
    view = await until(stack, enrollment_id, lambda v: len(goal_events(v)) == 2)
    met = [e for e in view["timeline"] if e["kind"] == "goal_met"]
    assert met[0]["detail"]["event_id"] != met[1]["detail"]["event_id"]
    # R9: the goal keeps its first event.
    [goal] = view["goals"]
    assert goal["event_id"] == met[0]["detail"]["event_id"]


async def test_trigger_link_follows_its_current_url(stack: Stack) -> None:
    link_id = new_id("l")
    put = await stack.http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Offer", "url": "https://old.example.com/"}
    )
    assert put.status_code == 200
    automation = await publish(
        stack,
        {
            "name": "offer",
            "steps": [
                {
                    "id": "offer",
                    "type": "send_email",
                    "subject": "Offer",
                    "html": f"<a href=\"{{{{ trigger_link('{link_id}') }}}}\">offer</a>",
                },
                {
                    "id": "in-email",
                    "type": "goal",
                    "any_of": [{"event": "email.clicked", "email_step": "offer"}],
                },
                {
                    "id": "took",
                    "type": "goal",
                    "any_of": [{"event": "trigger_link.clicked", "link_id": link_id}],
                    "if_unmet": {"action": "wait", "timeout": "P1D"},
                },
            ],
        },
    )
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "o@example.com"})
    [offer] = await messages_for(stack, contact, 1)
    tracked = offer["links"][0]
    await stack.http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Offer", "url": "https://new.example.com/"}
    )
    answer = await stack.http.get(tracked, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (302, "https://new.example.com/")
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    # In an email, a trigger link click is also a click in that email.
    assert goal_events(view) == [("in-email", "email.clicked"), ("took", "trigger_link.clicked")]


async def test_unknown_trigger_link_is_recorded_but_has_nowhere_to_go(stack: Stack) -> None:
    contact = new_id()
    tracker = Tracker(stack.settings.secret, stack.url)
    url = tracker.url(TrackingKind.CLICK, TrackedTarget(contact_id=contact, link_id="gone-link"))
    answer = await stack.http.get(url, follow_redirects=False)
    assert answer.status_code == 404 and "no longer available" in answer.text


async def test_tracking_is_open_and_the_dev_outbox_absent_in_production(
    dev_env: WorkflowEnvironment, stack: Stack
) -> None:
    """/t/ needs no API key; /v1/dev/outbox does not exist outside dev mode."""
    settings = stack.settings.model_copy(update={"dev_mode": False, "api_keys": "k1"})
    app = create_app(settings, dev_env.client)
    app.state.goalflow = GoalflowService(dev_env.client, settings.task_queue)  # what lifespan does
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        keyed = {"Authorization": "Bearer k1"}
        assert (await http.get("/v1/dev/outbox", headers=keyed)).status_code == 404
        assert (await http.get("/v1/dev/outbox")).status_code in (401, 404)
        pixel = Tracker(settings.secret, settings.public_url).token(
            TrackingKind.OPEN, TrackedTarget(contact_id=new_id())
        )
        opened = await http.get(f"/t/o/{pixel}")
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        assert (await http.get("/t/o/forged")).status_code == 404
    dev = stack.settings.model_copy(update={"api_keys": "k1"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(dev, dev_env.client)), base_url="http://app"
    ) as http:
        assert (await http.get("/v1/dev/outbox")).status_code == 401
        answer = await http.get("/v1/dev/outbox", headers={"Authorization": "Bearer k1"})
        assert answer.status_code == 200 and "messages" in answer.json()
