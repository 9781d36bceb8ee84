"""GOALFLOW_SECRET rotation: the first secret signs, every listed secret verifies, so links
already in inboxes keep working after a rotation; a token signed with a secret not listed is 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from api.main import create_app
from goalflow.core.settings import Settings
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind, secret_list, signer
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, goal_events, messages_for, publish, until
from tests.support.stack import Stack

TARGET = TrackedTarget(contact_id="c-1", step_id="hello", channel="email", url="https://x.test/")


def test_the_first_secret_signs_and_every_secret_verifies() -> None:
    old = Tracker("old-secret", "https://go.example.com")
    rotated = Tracker("new-secret, old-secret", "https://go.example.com")
    new_only = Tracker("new-secret", "https://go.example.com")
    for kind in TrackingKind:
        assert rotated.read(kind, old.token(kind, TARGET)) == TARGET
        # What the rotated list signs is signed with its first secret.
        assert new_only.read(kind, rotated.token(kind, TARGET)) == TARGET
        assert old.read(kind, rotated.token(kind, TARGET)) is None
        assert rotated.read(kind, Tracker("unknown", "https://x").token(kind, TARGET)) is None


def test_secret_lists_are_parsed_and_an_empty_one_refused() -> None:
    assert secret_list(" a , b,,c ") == ["a", "b", "c"]
    assert secret_list(["a", " ", "b"]) == ["a", "b"]
    empties: list[str | list[str]] = ["", " , ", []]
    for empty in empties:
        with pytest.raises(ValueError, match="GOALFLOW_SECRET"):
            secret_list(empty)
    # Plain signed strings (page tokens and the like) rotate the same way.
    signed = signer("old", salt="s").sign("value")
    assert signer("new,old", salt="s").unsign(signed) == b"value"
    assert signer("new", salt="s").unsign(signer("new,old", salt="s").sign("v")) == b"v"


@asynccontextmanager
async def app_with(stack: Stack, secret: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API of the stack, in process, with another GOALFLOW_SECRET."""
    settings: Settings = stack.settings.model_copy(update={"secret": secret})
    app = create_app(settings, stack.env.client)
    app.state.goalflow = GoalflowService(
        stack.env.client, settings.task_queue
    )  # what lifespan does
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield http


LISTENING = {
    "name": "rotation",
    "steps": [
        {
            "id": "hello",
            "type": "send_email",
            "subject": "Hello",
            "html": '<p><a href="https://example.com/offer">offer</a></p>',
        },
        {"id": "wait", "type": "wait", "duration": "P1D"},
        {"id": "clicked", "type": "goal", "any_of": [{"event": "email.clicked"}]},
        {"id": "opened", "type": "goal", "any_of": [{"event": "email.opened"}]},
    ],
}


async def test_links_sent_before_a_rotation_still_work_after_it(stack: Stack) -> None:
    automation = await publish(stack, LISTENING)
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": "r@example.com"})
    # The email went out signed with the stack's (old) secret.
    [hello] = await messages_for(stack, contact, 1)
    click_path = "/t/c/" + hello["links"][0].rsplit("/", 1)[1]
    unknown = Tracker("a-secret-nobody-listed", stack.url)
    forged_open = unknown.token(TrackingKind.OPEN, TrackedTarget(contact_id=contact))
    async with app_with(stack, f"the-new-secret,{stack.settings.secret}") as rotated:
        clicked = await rotated.get(click_path, follow_redirects=False)
        assert clicked.status_code == 302, clicked.text
        assert clicked.headers["location"] == "https://example.com/offer"
        assert (await rotated.get(f"/t/o/{forged_open}")).status_code == 404
        view = await until(stack, enrollment_id, lambda v: len(goal_events(v)) >= 1)
        assert goal_events(view) == [("clicked", "email.clicked")]
    # Once the old secret is dropped from the list, its links are unknown.
    async with app_with(stack, "the-new-secret") as retired:
        assert (await retired.get(click_path, follow_redirects=False)).status_code == 404


async def test_page_tokens_survive_a_rotation(stack: Stack) -> None:
    automation = await publish(stack, LISTENING)
    for _ in range(2):
        await enroll(stack, automation, {"id": new_id(), "email": "p@example.com"})
    query: dict[str, str | int] = {"automation_id": automation, "page_size": 1}
    # Visibility lags: wait for a first page that has a next one.
    first = await assert_eventually(
        lambda: stack.http.get("/v1/enrollments", params=query),
        lambda a: a.json()["next_page_token"] is not None,
    )
    token = first.json()["next_page_token"]
    async with app_with(stack, f"the-new-secret,{stack.settings.secret}") as rotated:
        answer = await rotated.get("/v1/enrollments", params={**query, "next_page_token": token})
        assert answer.status_code == 200, answer.text
    async with app_with(stack, "the-new-secret") as retired:
        answer = await retired.get("/v1/enrollments", params={**query, "next_page_token": token})
        assert answer.status_code == 422, answer.text
