"""Enrolling resolves the automation's latest version and state from the process's copy of the
catalog (the trigger set), not by a query of the automation per enrollment; a publish or pause
made by another API process reaches it within the refresh interval (docs/api.md).

On the session's stack (its worker serves the catalog workflow, whose id is fixed)."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from goalflow.core.trigger_cache import TriggerCache
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import Conflict, NotFound
from goalflow_bench.stack import QueryCounter
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.messages import ContactProfile, automation_workflow_id


def _definition(name: str) -> dict[str, object]:
    return {"name": name, "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}


async def test_enrollments_resolve_latest_without_a_query_each(stack: Stack) -> None:
    counter = QueryCounter()
    config = stack.env.client.config()
    config["interceptors"] = [*config["interceptors"], counter]
    client = Client(**config)
    queue = stack.settings.task_queue
    automation_id = new_id("noquery")
    this = GoalflowService(client, queue, triggers=TriggerCache(client, queue, interval=0.2))
    other = GoalflowService(client, queue, triggers=TriggerCache(client, queue, interval=0.2))
    first, _ = parse_automation(_definition("v1"))
    await this.publish(automation_id, first)

    for _ in range(4):
        result = await this.enroll(automation_id, ContactProfile(id=new_id()))
        assert result.version == 1
    # The definition of version 1 once, then nothing per enrollment.
    # (Counted for this automation: the copy also fetches other tests' triggered definitions.)
    asked = counter.by_workflow[("get", automation_workflow_id(automation_id))]
    assert asked <= 1, counter.by_workflow

    # Another process publishes version 2: this one enrolls into it within the interval.
    second, _ = parse_automation(_definition("v2"))
    await other.publish(automation_id, second)
    await assert_eventually(
        lambda: this.enroll(automation_id, ContactProfile(id=new_id())),
        lambda r: r.version == 2,
        within=10,
    )
    # And its pause, likewise.
    await other.set_state(automation_id, "paused")

    async def refused() -> bool:
        try:
            await this.enroll(automation_id, ContactProfile(id=new_id()))
        except Conflict:
            return True
        return False

    assert await assert_eventually(refused, lambda r: r, within=10)
    # This process's own publish counts at once.
    await this.set_state(automation_id, "active")
    third, _ = parse_automation(_definition("v3"))
    await this.publish(automation_id, third)
    assert (await this.enroll(automation_id, ContactProfile(id=new_id()))).version == 3
    # A version that does not exist is still a 404.
    for version in (0, 9):
        with pytest.raises(NotFound):
            await this.enroll(automation_id, ContactProfile(id=new_id()), version=version)
