"""Routing (R1 in docs/automations.md): every event accepted after an enrollment reaches it."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, assert_eventually, new_id, running_engine
from workflows.messages import ContactView, contact_workflow_id

WAIT_FOR_BUY = {
    "name": "race",
    "steps": [
        {
            "id": "g",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "P1D"},
            "on_met": {"action": "end"},
        }
    ],
}


async def test_race_200_contacts_enrolled_and_evented_back_to_back(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:

        async def one(contact: str) -> Any:
            enrolled = await engine.enroll(WAIT_FOR_BUY, contact)
            await engine.send(contact, "custom", {"name": "buy"})
            return await engine.result(enrolled.enrollment_id)

        finals = await asyncio.gather(*(one(new_id("race")) for _ in range(200)))
    assert len(finals) == 200
    assert all(f.outcome == "goal_met" and f.goals[0].met for f in finals), [
        (f.enrollment_id, f.outcome) for f in finals if f.outcome != "goal_met"
    ]


async def test_contact_keeps_its_state_across_continue_as_new(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_engine(dev_env) as engine:
        contact = new_id()
        enrolled = await engine.enroll(
            {
                "name": "long",
                "steps": [
                    {
                        "id": "g",
                        "type": "goal",
                        "any_of": [{"event": "custom", "name": "finish"}],
                        "if_unmet": {"action": "wait"},
                    }
                ],
            },
            contact,
            contact={"tags": ["lead"]},
            continue_as_new_after_ops=3,
        )
        first_run = await _run_id(engine, contact)
        for i in range(8):
            await engine.send(contact, "custom", {"name": f"noise-{i}"}, id=f"noise-{i}")
        await engine.send(contact, "contact.tag_added", {"tag": "warm"}, id="tag-1")
        # Forwarding is asynchronous to acceptance: wait until the queue has been worked off.
        await assert_eventually(
            lambda: _run_id(engine, contact), lambda run: run != first_run, within=30
        )
        await assert_eventually(
            lambda: engine.contact(contact), lambda v: "warm" in v.tags, within=30
        )

        view = await engine.contact(contact)
        assert view.tags == ["lead", "warm"]
        assert [a.enrollment_id for a in view.active_enrollments] == [enrolled.enrollment_id]
        # Dedupe memory survived: ids seen in earlier runs are still duplicates.
        again = await engine.send(contact, "custom", {"name": "noise-0"}, id="noise-0")
        assert again.duplicate is True
        # And routing still works after the new run started.
        await engine.send(contact, "custom", {"name": "finish"}, id="finish")
        final = await engine.result(enrolled.enrollment_id)
        assert final.goals[0].event_id == "finish"
        handle = engine.client.get_workflow_handle(contact_workflow_id(contact))
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def _run_id(engine: WorkflowDriver, contact: str) -> str | None:
    handle = engine.client.get_workflow_handle(contact_workflow_id(contact))
    return (await handle.describe()).run_id


async def test_contact_with_nothing_to_remember_completes_when_idle(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_engine(ts_env) as engine:
        contact = new_id()
        await engine.send(contact, "custom", {"name": "hello"})
        handle = engine.client.get_workflow_handle(
            contact_workflow_id(contact), result_type=ContactView
        )
        async with ts_env.time_skipping_unlocked():  # type: ignore[attr-defined]
            view = await handle.result()
        assert view.contact_id == contact
        # A later event starts a fresh run, not an error.
        receipt = await engine.send(contact, "custom", {"name": "again"})
        assert receipt.duplicate is False
