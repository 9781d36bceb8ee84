"""goalflow.client: events sent from a plain Temporal client, with no API running, meet goals
exactly as `POST /v1/events` would (docs/integrations.md)."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.client import send_event, send_events
from tests.support.helpers import new_id, running_engine
from workflows.messages import contact_workflow_id

WAIT_FOR_PAYMENT = {
    "name": "wait for payment",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P7D"},
        {
            "id": "paid",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "paid", "where": {"plan": "pro"}}],
        },
        {"id": "after", "type": "add_tag", "tag": "customer"},
    ],
}

REPLY = {
    "name": "reply",
    "steps": [
        {"id": "wait", "type": "wait", "duration": "P7D"},
        {
            "id": "yes",
            "type": "goal",
            "any_of": [{"event": "sms.received", "body_matches": "yes*"}],
        },
    ],
}


async def test_an_event_sent_through_temporal_meets_a_goal(dev_env: WorkflowEnvironment) -> None:
    async with running_engine(dev_env) as engine:
        contact = new_id()
        enrolled = await engine.enroll(WAIT_FOR_PAYMENT, contact)
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        # A client of the integration's own: the same server, goalflow's data converter.
        client = await Client.connect(
            dev_env.client.service_client.config.target_host,
            namespace=dev_env.client.namespace,
            data_converter=pydantic_data_converter,
        )
        event = {
            "id": "invoice-42",
            "contact_id": contact,
            "type": "custom",
            "data": {"name": "paid", "plan": "pro"},
        }
        receipt = await send_event(client, event, task_queue=engine.task_queue)
        assert (receipt.event_id, receipt.contact_id, receipt.duplicate) == (
            "invoice-42",
            contact,
            False,
        )
        final = await engine.result(enrolled.enrollment_id)
        assert final.status == "completed"
        [goal] = final.goals
        assert (goal.step_id, goal.met, goal.event_id) == ("paid", True, "invoice-42")
        # The same id again: a duplicate, applied once.
        again = await send_event(client, event, task_queue=engine.task_queue)
        assert again.duplicate is True
        view = await engine.contact(contact)
        assert "customer" in view.tags


async def test_send_events_keeps_order_per_contact_and_answers_in_input_order(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        first, second = new_id(), new_id()
        enrolled = await engine.enroll(REPLY, first)
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        events = [
            {"id": "a", "contact_id": first, "type": "sms.received", "data": {"body": "no"}},
            {"id": "b", "contact_id": second, "type": "custom", "data": {"name": "x"}},
            {"id": "c", "contact_id": first, "type": "sms.received", "data": {"body": "YES!"}},
            {"id": "a", "contact_id": first, "type": "sms.received", "data": {"body": "no"}},
        ]
        receipts = await send_events(dev_env.client, events, task_queue=engine.task_queue)
        assert [(r.event_id, r.contact_id, r.duplicate) for r in receipts] == [
            ("a", first, False),
            ("b", second, False),
            ("c", first, False),
            ("a", first, True),
        ]
        final = await engine.result(enrolled.enrollment_id)
        assert [(g.step_id, g.event_id) for g in final.goals] == [("yes", "c")]
        # The second contact's workflow was started by its event, as POST /v1/events does.
        handle = dev_env.client.get_workflow_handle(contact_workflow_id(second))
        assert (await handle.describe()).id == contact_workflow_id(second)


async def test_an_invalid_event_is_refused_before_anything_is_sent(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact = new_id()
        good = {"contact_id": contact, "type": "custom", "data": {}}
        for bad in (
            {"contact_id": contact, "type": "not.a.type"},
            {"contact_id": "has space", "type": "custom"},
            {"type": "custom"},
        ):
            with pytest.raises(ValueError):
                await send_events(dev_env.client, [good, bad], task_queue=engine.task_queue)
        handle = dev_env.client.get_workflow_handle(contact_workflow_id(contact))
        with pytest.raises(Exception, match="not found"):
            await handle.describe()
