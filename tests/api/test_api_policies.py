"""PUT/GET /v1/policies/messaging (R20), and the policy at work through the real stack: the
real email activity asks the contact's budget before it sends over SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import new_id
from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.stack import Stack, open_stack


@pytest.fixture(scope="module")
async def policy_stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A stack of its own: a policy set here must not cap the sends of other tests."""
    async with open_stack(dev_env, tmp_path_factory.mktemp("policies")) as opened:
        yield opened


async def put(stack: Stack, body: Any) -> Any:
    return await stack.http.put("/v1/policies/messaging", json=body)


async def test_the_policy_is_empty_until_set_then_as_put(policy_stack: Stack) -> None:
    assert await open_policy_get(policy_stack) == {}
    policy = {
        "email": {"max": 2, "per": "P7D"},
        "sms": {"max": 1, "per": "PT12H"},
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    }
    answer = await put(policy_stack, policy)
    assert answer.status_code == 200, answer.text
    assert answer.json() == policy
    assert await open_policy_get(policy_stack) == policy
    cleared = await put(policy_stack, {})
    assert cleared.status_code == 200 and cleared.json() == {}
    assert await open_policy_get(policy_stack) == {}


async def open_policy_get(stack: Stack) -> Any:
    answer = await stack.http.get("/v1/policies/messaging")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": {"max": 0, "per": "P1D"}}, ["body", "email", "max"]),
        ({"email": {"max": 1, "per": "P1M"}}, ["body", "email", "per"]),
        ({"email": {"max": 1, "per": "PT0S"}}, ["body", "email", "per"]),
        ({"email": {"max": 1, "per": "a day"}}, ["body", "email", "per"]),
        ({"email": {"max": 1, "per": "P400D"}}, ["body", "email", "per"]),
        ({"email": {"max": 1}}, ["body", "email", "per"]),
        ({"sms": {"max": "many", "per": "P1D"}}, ["body", "sms", "max"]),
        ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, ["body", "quiet_hours", "start"]),
        ({"quiet_hours": {"start": "21:00", "end": "8:00"}}, ["body", "quiet_hours", "end"]),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, ["body", "quiet_hours"]),
        ({"push": {"max": 1, "per": "P1D"}}, ["body", "push"]),
        ([], ["body"]),
    ],
)
async def test_an_invalid_policy_is_422_with_its_path(
    policy_stack: Stack, body: Any, loc: list[str]
) -> None:
    answer = await put(policy_stack, body)
    assert answer.status_code == 422, answer.text
    assert any(error["loc"] == loc for error in answer.json()["detail"]), answer.text


async def test_a_capped_email_waits_and_only_one_reaches_the_sink(policy_stack: Stack) -> None:
    answer = await put(policy_stack, {"email": {"max": 1, "per": "P1D"}})
    assert answer.status_code == 200, answer.text
    contact = {"id": new_id(), "email": "ada@example.com"}
    step = {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"}
    first = await publish(policy_stack, {"name": "one", "steps": [step]})
    second = await publish(policy_stack, {"name": "two", "steps": [step]})
    await until(policy_stack, await enroll(policy_stack, first, contact), _ended)
    deferred = await enroll(policy_stack, second, contact)
    view = await until(policy_stack, deferred, _waiting_for_budget)
    assert view["waiting"]["until"] is not None
    assert len(await messages_for(policy_stack, contact["id"], 1)) == 1


def _ended(view: dict[str, Any]) -> bool:
    return bool(view["status"] == "completed")


def _waiting_for_budget(view: dict[str, Any]) -> bool:
    waiting = view["waiting"]
    return waiting is not None and waiting["kind"] == "budget"


async def test_a_policy_change_applies_to_the_next_send(policy_stack: Stack) -> None:
    assert (await put(policy_stack, {"email": {"max": 1, "per": "P1D"}})).status_code == 200
    contact = {"id": new_id(), "email": "grace@example.com"}
    step = {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"}
    first = await publish(policy_stack, {"name": "one", "steps": [step]})
    second = await publish(policy_stack, {"name": "two", "steps": [step]})
    await until(policy_stack, await enroll(policy_stack, first, contact), _ended)
    # The cap is lifted: the next send is granted at once.
    assert (await put(policy_stack, {})).status_code == 200
    await until(policy_stack, await enroll(policy_stack, second, contact), _ended)
    assert len(await messages_for(policy_stack, contact["id"], 2)) == 2
